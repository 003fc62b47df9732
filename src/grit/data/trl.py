"""Build the dataset TRL's ``GRPOTrainer`` reads: a conversational ``prompt``, an ``image`` and the columns
the rewards and metrics read.

Images are stored as paths and decoded only when a row is read, so memory stays bounded for any number of samples.
They are decoded by grit's own reader (:func:`grit.data.images.load_image`), as evaluation, inference and the demo
decode them, so that training sees the same pixels: ``datasets`` would hand 16-bit grey or float images to the
processor as they are, which clips them to white. The decoding is the dataset's transform: filter or map the samples
before building the dataset, since ``Dataset.filter`` and ``map`` see the transform's columns only.
"""

from __future__ import annotations

from collections.abc import Sequence

from grit.data.images import load_image
from grit.data.schema import Sample
from grit.models.families import get_family
from grit.prompts import user_message

REWARD_COLUMNS = ("id", "question", "answer", "answer_type", "evidence_boxes", "width", "height", "dataset")


def to_trl_dataset(samples: Sequence[Sample], family: str = "qwen2_5_vl", prompt: str = "grounded"):
    """A ``datasets.Dataset`` with ``prompt`` (one user turn: image placeholder + question text for ``prompt``),
    ``image`` (decoded when read) and :data:`REWARD_COLUMNS` (plus ``question_family`` when samples carry one).
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
            "image": datasets.Image(decode=False),
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
    dataset = datasets.Dataset.from_dict(columns, features=features)
    dataset.set_transform(_decoded, columns=["image"], output_all_columns=True)
    return dataset


def _decoded(batch: dict) -> dict:
    """A batch's images, read from their paths as grit reads images everywhere."""
    return {"image": [load_image(image["path"]) for image in batch["image"]]}
