"""Build the dataset TRL's ``GRPOTrainer`` reads: a conversational ``prompt``, an ``image`` and the columns
the rewards and metrics read.

Images are stored as paths in a ``datasets.Image`` column, which decodes a file only when a row is read, so
memory stays bounded for any number of samples.
"""

from __future__ import annotations

from collections.abc import Sequence

from grit.data.schema import Sample
from grit.models.families import get_family
from grit.prompts import user_message

REWARD_COLUMNS = ("id", "question", "answer", "answer_type", "evidence_boxes", "width", "height", "dataset")


def to_trl_dataset(samples: Sequence[Sample], family: str = "qwen2_5_vl", prompt: str = "grounded"):
    """A ``datasets.Dataset`` with ``prompt`` (one user turn: image placeholder + question text for ``prompt``),
    ``image`` (lazily decoded) and :data:`REWARD_COLUMNS` (plus ``question_family`` when samples carry one).
    """
    import datasets

    syntax = get_family(family).box_syntax
    missing = [s.source or s.id for s in samples if s.image_path is None]
    if missing:
        raise ValueError(
            f"{len(missing)} samples have no image file at hand (first: {missing[0]}); "
            "load them with the image folder so images can be read"
        )
    columns = {
        "prompt": [user_message(s.question, prompt, syntax) for s in samples],
        "image": [str(s.image_path) for s in samples],
        "id": [s.id for s in samples],
        "question": [s.question for s in samples],
        "answer": [s.answer for s in samples],
        "answer_type": [s.answer_type for s in samples],
        "evidence_boxes": [[list(b) for b in s.evidence_boxes] for s in samples],
        "width": [s.width for s in samples],
        "height": [s.height for s in samples],
        "dataset": [s.dataset for s in samples],
        "question_family": [str(s.extra.get("family", "")) for s in samples],
    }
    features = datasets.Features(
        {
            "prompt": [
                {
                    "role": datasets.Value("string"),
                    "content": [{"type": datasets.Value("string"), "text": datasets.Value("string")}],
                }
            ],
            "image": datasets.Image(),
            "id": datasets.Value("string"),
            "question": datasets.Value("string"),
            "answer": datasets.Value("string"),
            "answer_type": datasets.Value("string"),
            "evidence_boxes": datasets.Sequence(datasets.Sequence(datasets.Value("float64"))),
            "width": datasets.Value("int64"),
            "height": datasets.Value("int64"),
            "dataset": datasets.Value("string"),
            "question_family": datasets.Value("string"),
        }
    )
    return datasets.Dataset.from_dict(columns, features=features)
