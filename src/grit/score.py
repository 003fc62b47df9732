"""Rescore saved completions with a reward preset (``grit score``).

Completions are JSONL, one ``{"id": ..., "completion": "..."}`` per line (several may share an id); ids refer
to samples of a GRIT_data-layout file (their ``id`` field, else their line number). A line may also carry the
``question`` it answers (absent or null: not checked): then it must be that sample's question (Unicode NFC, runs of
whitespace as one space), so that completions made for another data file whose ids happen to match are refused
rather than scored against the wrong answers. Each completion gets every
reward term by name, the weighted total, its boxes (in original pixels where the frame is known), the answer
and the format flags.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grit.chain import parse
from grit.data.jsonl import jsonl_records
from grit.data.schema import DataError, DataProblem, Sample
from grit.grounding import chain_record, frame_for
from grit.rewards import RewardSettings, build_rewards, completion_text


@dataclass(frozen=True)
class Completion:
    id: str
    text: str
    source: str


def sample_columns(sample: Sample) -> dict[str, Any]:
    """The dataset columns rewards read, for one sample."""
    return {
        "question": sample.question,
        "answer": sample.answer,
        "answer_type": sample.answer_type,
        "width": sample.width,
        "height": sample.height,
        "evidence_boxes": [list(b) for b in sample.evidence_boxes],
        "dataset": sample.dataset,
    }


# Keys other tools write a model's output under; named in the fix when a line has one and no "completion".
_COMPLETION_LIKE = ("text", "output", "response", "prediction", "generated_text", "answer")


def read_completions(path: str | Path, samples: dict[str, Sample]) -> list[Completion]:
    """Read a completions file for ``samples`` (by id); a malformed line, an id not in the data or a ``question``
    that is not its sample's is an error naming file and line."""
    path = Path(path)
    out, problems = [], []
    for line_no, record, problem in jsonl_records(path, "completions"):
        if problem is not None:
            problems.append(problem)
            continue
        where = (str(path), line_no)
        if isinstance(record, dict) and _conversation(record.get("completion")):  # TRL's conversational form
            record = dict(record, completion=completion_text(record["completion"]))
        if _eval_prediction(record):  # grit eval's predictions.jsonl: its output is the completion
            record = dict(record, completion=record["output"])
        if not isinstance(record, dict) or "id" not in record or not isinstance(record.get("completion"), str):
            problems.append(
                DataProblem(*where, None, 'need {"id": ..., "completion": "..."}', _completion_fix(record))
            )
            continue
        sample_id = str(record["id"])
        if sample_id not in samples:
            problems.append(
                DataProblem(
                    *where,
                    "id",
                    f"id {sample_id!r} is not in the data file",
                    "use the data's id field, or its line number when it has none",
                )
            )
            continue
        problem = question_problem(record.get("question"), sample_id, samples[sample_id])
        if problem is not None:
            problems.append(DataProblem(*where, "question", *problem))
            continue
        out.append(Completion(sample_id, record["completion"], f"{path}:{line_no}"))
    if problems:
        raise DataError(problems)
    return out


# What a chat template leaves in text decoded with its special tokens: Qwen's and InternVL's <|im_end|>, Llama's
# <|eot_id|>, SmolVLM's <end_of_utterance>, LLaVA's </s>. (Box tokens such as <|box_start|> are the box grammar's.)
_TEMPLATE_TOKEN_RE = re.compile(
    r"<\|(?:im_end|im_start|endoftext|end_of_text|eot_id|start_header_id|end_header_id)\|>|<end_of_utterance>|</s>\s*$"
)
_INSTRUCTION = "First, think between <think> and </think>"  # the grounded prompt's own words


def template_leaks(texts: Sequence[str]) -> str | None:
    """Where completions still carry their chat template's special tokens or the prompt's instruction (decoded with
    ``skip_special_tokens=False``, or saved with the prompt), which training never scores, a person's account of it
    with the fix; else None."""
    tokens = [m.group(0) for t in texts if (m := _TEMPLATE_TOKEN_RE.search(t))]
    prompts = sum(_INSTRUCTION in t for t in texts)
    said = []
    if tokens:
        said.append(
            f"{len(tokens)} of {len(texts)} completions hold chat-template tokens such as {tokens[0]} (decode with "
            "skip_special_tokens=True, as training does)"
        )
    if prompts:
        said.append(f"{prompts} of {len(texts)} hold the prompt's instruction (save only the generated text)")
    return "; ".join(said) + "; their format and answers score as written" if said else None


def _conversation(value: Any) -> bool:
    """Whether ``value`` is a list of chat messages (``{"role": ..., "content": ...}``), as TRL logs completions."""
    messages = [value] if isinstance(value, dict) else value
    return (
        isinstance(messages, list) and bool(messages) and all(isinstance(m, dict) and "content" in m for m in messages)
    )


def _eval_prediction(record: Any) -> bool:
    """Whether a line is one of ``grit eval``'s predictions (its ``output`` beside the ``chain`` it read)."""
    return (
        isinstance(record, dict)
        and "completion" not in record
        and isinstance(record.get("output"), str)
        and isinstance(record.get("chain"), dict)
        and "data" in record
    )


def _completion_fix(record: Any) -> str:
    """How to turn a line that holds no completion string into one, by the shape it has."""
    if not isinstance(record, dict):
        return "give each line an id and a completion string"
    if "completion" not in record and {"question", "answer", "image"} <= set(record):
        return (
            "this line is a sample of a data file (question, answer, image), not a model's completion: give the data "
            "as --data and the model's outputs (or grit eval's predictions.jsonl) as --completions"
        )
    if isinstance(record.get("response"), dict) and "custom_id" in record:  # OpenAI's batch output
        return "OpenAI batch output: take response.body.choices[0].message.content as completion and custom_id as id"
    if isinstance(record.get("outputs"), list):  # vLLM's RequestOutput
        return "vLLM output: take outputs[0].text as completion, with the data's id as id"
    if isinstance(record.get("choices"), list):  # a chat or completions API response
        return (
            "an API response: take choices[0].message.content (chat) or choices[0].text as completion, with the "
            "data's id as id (not the response's)"
        )
    if "completion" in record and not isinstance(record["completion"], str):
        kind = "null" if record["completion"] is None else type(record["completion"]).__name__
        return f"completion is {kind}; give its generated text as a string"
    other = [k for k in _COMPLETION_LIKE if k in record]
    if "completion" not in record and other and isinstance(record[other[0]], str):
        return f"rename {other[0]!r} to 'completion'"
    if "id" not in record:
        return "give each line an id (the data's id, or its line number) and a completion string"
    return "give each line a completion string"


def same_text(a: str, b: str) -> bool:
    """Whether two texts are the same question: Unicode NFC, any run of whitespace as one space.

    >>> same_text(" How many  zebras\\nare there? ", "How many zebras are there?")
    True
    """
    return " ".join(unicodedata.normalize("NFC", a).split()) == " ".join(unicodedata.normalize("NFC", b).split())


def question_problem(asked: Any, sample_id: str, sample: Sample) -> tuple[str, str] | None:
    """What is wrong with a completions line's ``question`` (absent or null: not checked), as (problem, fix)."""
    if asked is None:
        return None
    if isinstance(asked, bool) or not isinstance(asked, (str, int, float)):
        return f"must be text, got {type(asked).__name__}", "write 'question' as a string, or drop it"
    if same_text(str(asked), sample.question):
        return None
    return (
        f"this line answers {str(asked)!r}, but id {sample_id!r} in the data asks {sample.question!r}",
        "score the completions against the data file they were made for (if the data's wording was changed on "
        "purpose, drop the question field)",
    )


def weighted_total(values: Sequence[float | None], weights: Sequence[float]) -> float | None:
    """TRL's sum: terms that do not apply (None) are left out; None when no term applies."""
    terms = [v * w for v, w in zip(values, weights) if v is not None]
    return math.fsum(terms) if terms else None


def score_completions(
    completions: Sequence[Completion],
    samples: dict[str, Sample],
    preset: str = "grit",
    settings: RewardSettings | None = None,
    extra: Sequence[str] = (),
    tokenizer: Any = None,
) -> tuple[list[dict[str, Any]], list[str], list[float]]:
    """Score every completion; returns the per-completion records, the term names and their weights."""
    settings = settings or RewardSettings()
    funcs, weights = build_rewards(preset, settings, extra)
    names = [f.__name__ for f in funcs]
    columns: dict[str, list[Any]] = {}
    for c in completions:
        for key, value in sample_columns(samples[c.id]).items():
            columns.setdefault(key, []).append(value)
    texts = [c.text for c in completions]
    if tokenizer is not None:
        columns["completion_ids"] = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    values = {name: f(texts, **columns) if texts else [] for name, f in zip(names, funcs)}
    # A judged answer term is None only where the judge failed (no answer scores 0): such a total would read as
    # the answer's 0, so it is left out, and the record says why.
    judged = [name for name, f in zip(names, funcs) if getattr(f, "judge", None) is not None]
    records = []
    for i, c in enumerate(completions):
        terms = {name: values[name][i] for name in names}
        failed = [name for name in judged if terms[name] is None]
        records.append(
            {
                "id": c.id,
                "source": c.source,
                "completion": c.text,
                "rewards": terms,
                "total": None if failed else weighted_total([terms[n] for n in names], weights),
                **({"judge_failed": failed} if failed else {}),
                **chain_record(
                    parse(c.text),
                    frame_for(settings.frame, samples[c.id].width, samples[c.id].height),
                    settings.whole_image_threshold,
                ),
            }
        )
    return records, names, weights


def summary_table(records: Sequence[dict[str, Any]], names: Sequence[str], weights: Sequence[float]) -> str:
    """A plain-text table: each term's mean over the completions it applies to, and chain statistics."""
    lines = [f"{'term':<26}{'weight':>8}{'mean':>10}{'applies':>10}"]
    for name, weight in zip(names, weights):
        vals = [r["rewards"][name] for r in records if r["rewards"][name] is not None]
        mean = f"{sum(vals) / len(vals):.4f}" if vals else "n/a"
        lines.append(f"{name:<26}{weight:>8.2f}{mean:>10}{len(vals):>6}/{len(records)}")
    totals = [r["total"] for r in records if r["total"] is not None]
    n = max(len(records), 1)
    mean_total = f"{sum(totals) / len(totals):.4f}" if totals else "n/a"
    lines.append(f"{'total':<26}{'':>8}{mean_total:>10}{len(totals):>6}/{len(records)}")
    if failed := sum("judge_failed" in r for r in records):
        lines.append(f"judge failed on {failed} completions: their answer term and total are left out, not 0")
    strict = sum(r["format"]["strict"] for r in records)
    boxes = sum(len(r["boxes"]) for r in records)
    invalid = sum(1 for r in records for b in r["boxes"] if b["problem"])
    lines.append(
        f"completions {len(records)}; strict format {strict / n:.1%}; boxes per completion "
        f"{boxes / n:.2f}; invalid boxes {invalid}/{boxes}"
    )
    return "\n".join(lines)
