"""Evaluation metrics per sample and their aggregation (GRIT, section 4).

Per sample:
- **accuracy**: the rule verifier on the answer (grounded/CoT prompts: the text of ``<answer>``; direct prompt: the
  whole output), or an LLM judge's continuous score in [0, 1] (a failed judgement is counted, never scored 0);
- **grounding**: the paper's IoU (union of every well-formed box in the output, clipped to the image, against the
  union of the evidence boxes; no box scores 0), the one-to-one matched IoU and precision/recall at IoU 0.5;
  samples without evidence boxes are left out, as in the paper;
- **format**: a complete chain (:attr:`grit.chain.Chain.strict`), boxes per output, invalid boxes;
- **consistency** (data with labelled objects, e.g. the shapes world): see :mod:`grit.consistency`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from grit.answers import verify
from grit.boxes import FrameSpec, clip, is_degenerate
from grit.chain import parse
from grit.consistency import label_agreement
from grit.data.schema import Sample
from grit.grounding import frame_for, grounding_scores, place_boxes
from grit.prompts import CHAIN_PROMPTS


def prediction_of(text: str, prompt: str) -> str | None:
    """The answer an output gives: ``<answer>`` text for chain prompts (None without one), else the output."""
    chain = parse(text)
    if prompt in CHAIN_PROMPTS:
        return chain.answer_text
    return chain.answer_text if chain.answer_text is not None else text.strip()


def sample_metrics(
    text: str,
    sample: Sample,
    frame: FrameSpec,
    prompt: str = "grounded",
    judge_score: float | None = None,
    judged: bool = False,
) -> dict[str, Any]:
    """Every metric of one output; ``judged`` says accuracy comes from ``judge_score`` (None = judge failed)."""
    chain = parse(text)
    placed = place_boxes(chain, frame_for(frame, sample.width, sample.height), "any")
    boxes = [clip(p.original, sample.width, sample.height) for p in placed if p.original is not None]
    boxes = [b for b in boxes if not is_degenerate(b)]
    prediction = prediction_of(text, prompt)
    if judged:
        accuracy = judge_score
    else:
        accuracy = float(verify(prediction, sample.answer, sample.answer_type, sample.question))
    scores = grounding_scores(boxes, sample.evidence_boxes)
    agreement = label_agreement(chain, placed, sample.extra.get("objects"))
    return {
        "prediction": prediction,
        "accuracy": accuracy,
        "judge_failed": judged and judge_score is None,
        "union_iou": None if scores is None else scores.union_iou,
        "matched_iou": None if scores is None else scores.matched_iou,
        "precision50": None if scores is None else scores.precision,
        "recall50": None if scores is None else scores.recall,
        "strict_format": chain.strict,
        "format_problems": list(chain.problems),
        "boxes": len(placed),
        "invalid_boxes": sum(1 for p in placed if not p.valid),
        "consistency": agreement,
        "boxes_original": [[round(v, 2) for v in b] for b in boxes],
    }


def _mean(values: Iterable[float | None]) -> tuple[float | None, int]:
    vals = [v for v in values if v is not None]
    return (sum(vals) / len(vals) if vals else None), len(vals)


def aggregate(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means over a set of per-sample metric rows, with the counts they rest on."""
    n = len(rows)
    out: dict[str, Any] = {"samples": n}
    for key in ("accuracy", "union_iou", "matched_iou", "precision50", "recall50"):
        mean, count = _mean(r[key] for r in rows)
        out[key], out[f"{key}_n"] = mean, count
    out["judge_failures"] = sum(1 for r in rows if r["judge_failed"])
    out["stopped_at_limit"] = sum(1 for r in rows if r.get("stopped_at_limit"))  # cut at max_new_tokens
    out["format_compliance"] = sum(r["strict_format"] for r in rows) / n if n else None
    boxes = sum(r["boxes"] for r in rows)
    out["boxes_per_output"] = boxes / n if n else None
    out["invalid_box_share"] = sum(r["invalid_boxes"] for r in rows) / boxes if boxes else None
    named = [r["consistency"] for r in rows if r["consistency"] is not None]
    agree = sum(c["agree"] for c in named)
    total = sum(c["boxes"] for c in named)
    out["consistency"] = agree / total if total else None
    out["consistency_boxes"] = total
    return out


def grouped(rows: Sequence[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list] = defaultdict(list)
    for r in rows:
        groups[str(r.get(key) or "-")].append(r)
    return {k: aggregate(v) for k, v in sorted(groups.items())}


def paired_gain(
    before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]], key: str = "accuracy"
) -> dict[str, Any]:
    """Mean per-sample change of ``key`` from ``before`` to ``after`` rows of the same samples (paired by ``data``
    file and ``id``), with the half-width of its 95 % normal interval and the number of pairs, both unrounded (a
    value rounded here and again for display can be a digit off). Samples missing from either side or without a
    value (a failed judgement) are left out and counted in ``unpaired``.

    >>> paired_gain([{"id": "a", "accuracy": 0.0}, {"id": "b", "accuracy": 1.0}],
    ...             [{"id": "a", "accuracy": 1.0}, {"id": "b", "accuracy": 1.0}])
    {'gain': 0.5, 'ci95': 0.98, 'n': 2, 'unpaired': 0}
    """

    def ident(r: dict[str, Any]) -> tuple:  # ids are unique within one data file
        return r.get("data"), r["id"]

    then = {ident(r): r[key] for r in before}
    diffs = [r[key] - then[ident(r)] for r in after if r.get(key) is not None and then.get(ident(r)) is not None]
    n = len(diffs)
    unpaired = len(set(then) | {ident(r) for r in after}) - n
    if not n:
        return {"gain": None, "ci95": None, "n": 0, "unpaired": unpaired}
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else None
    ci = 1.96 * (var / n) ** 0.5 if var is not None else None  # not rounded: gain_text rounds once, for display
    return {"gain": mean, "ci95": ci, "n": n, "unpaired": unpaired}


def gain_text(g: dict[str, Any]) -> str:
    """A :func:`paired_gain` as ``+0.500 +- 0.980 (n 2)``, or ``-`` when nothing was paired."""
    if g["gain"] is None:
        return "-"
    return f"{g['gain']:+.3f}" + (f" +- {g['ci95']:.3f}" if g["ci95"] is not None else "") + f" (n {g['n']})"
