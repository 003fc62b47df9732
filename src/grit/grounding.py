"""Chain boxes placed on the image: mapped to original pixels, checked, and scored against evidence boxes.

Rewards, metrics, ``grit score`` and the viewers all call :func:`place_boxes` and :func:`grounding_scores`,
so a box that earns reward is exactly a box that counts in the metrics.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from grit.boxes import WHOLE_IMAGE_THRESHOLD, Box, BoxCheck, Frame, FrameSpec, check_box, match_boxes, union_iou
from grit.chain import Chain, ChainBox


@dataclass(frozen=True)
class PlacedBox:
    """A chain box with its original-pixel coordinates (None when not well-formed) and validity flags."""

    box: ChainBox
    original: Box | None
    check: BoxCheck | None

    @property
    def valid(self) -> bool:
        return self.original is not None and self.check is not None and self.check.valid

    @property
    def problem(self) -> str | None:
        if self.original is None:
            return "malformed"
        if self.check.degenerate:
            return "degenerate"
        if self.check.out_of_image:
            return "out of image"
        if self.check.whole_image:
            return "whole image"
        return None


@functools.lru_cache(maxsize=4096)
def frame_for(spec: FrameSpec, width: float, height: float) -> Frame:
    return spec.frame(width, height)


def place_boxes(
    chain: Chain,
    frame: Frame,
    segment: str | None = "think",
    whole_image_threshold: float = WHOLE_IMAGE_THRESHOLD,
) -> tuple[PlacedBox, ...]:
    """The chain's boxes in ``segment`` (all boxes when ``segment="any"``), placed in original pixels."""
    chosen = chain.boxes if segment == "any" else chain.boxes_in(segment)
    placed = []
    for b in chosen:
        if not b.well_formed:
            placed.append(PlacedBox(b, None, None))
            continue
        original = frame.to_original(b.coords)
        placed.append(PlacedBox(b, original, check_box(original, frame.width, frame.height, whole_image_threshold)))
    return tuple(placed)


def chain_record(chain: Chain, frame: Frame, whole_image_threshold: float = WHOLE_IMAGE_THRESHOLD) -> dict:
    """A JSON-ready account of a parsed chain: its blocks, answer, format flags and every box with its
    coordinates as written, in original pixels (None when malformed), label, segment and problem."""
    boxes = [
        {
            "coords": list(p.box.coords),
            "original": None if p.original is None else [round(v, 2) for v in p.original],
            "label": p.box.label,
            "segment": p.box.segment,
            "syntax": p.box.syntax,
            "problem": p.problem,
        }
        for p in place_boxes(chain, frame, "any", whole_image_threshold)
    ]
    blocks = {s: chain.segment(s) for s in ("think", "rethink", "answer")}
    return {
        "answer": chain.answer_text,
        "blocks": {name: seg.content.strip() if seg.present else None for name, seg in blocks.items()},
        "boxes": boxes,
        "format": {
            "strict": chain.strict,
            "problems": list(chain.problems),
            "in_order": chain.in_order,
            **{f"{name}_present": seg.present for name, seg in blocks.items()},
            **{f"{name}_closed": seg.closed for name, seg in blocks.items()},
        },
    }


@dataclass(frozen=True)
class GroundingScores:
    union_iou: float
    matched_iou: float
    precision: float | None
    recall: float | None


def grounding_scores(predicted: Sequence[Box], evidence: Sequence[Sequence[float]]) -> GroundingScores | None:
    """The paper's union IoU plus one-to-one matched IoU and precision/recall at 0.5; None when the sample
    has no evidence boxes (it is left out of averages, as in the paper). The matching sees each distinct box once:
    a chain that writes a box again (its rethink rechecking the think's boxes) names one region, not an extra one.

    >>> s = grounding_scores([(0, 0, 10, 10), (0, 0, 10, 10)], [[0, 0, 10, 10]])
    >>> s.matched_iou, s.precision
    (1.0, 1.0)
    """
    if len(evidence) == 0:
        return None
    truth = [tuple(float(v) for v in b) for b in evidence]
    distinct = list(dict.fromkeys(tuple(float(v) for v in b) for b in predicted))
    matching = match_boxes(distinct, truth)
    return GroundingScores(union_iou(predicted, truth), matching.mean_iou, matching.precision, matching.recall)
