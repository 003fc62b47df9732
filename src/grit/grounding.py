"""Chain boxes placed on the image: mapped to original pixels, checked, and scored against evidence boxes.

Rewards, metrics, ``grit score`` and the viewers all call :func:`place_boxes` and :func:`grounding_scores`,
so a box that earns reward is exactly a box that counts in the metrics.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from grit.boxes import (
    FRAME_KINDS,
    WHOLE_IMAGE_THRESHOLD,
    Box,
    BoxCheck,
    Frame,
    FrameSpec,
    area,
    check_box,
    match_boxes,
    union_iou,
)
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
        if self.check.subpixel:
            return "under a pixel"
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


# How each frame kind is said to a person.
FRAME_WORDS = {
    "original": "pixels of the original image",
    "resized": "pixels of the model's resized input",
    "norm1000": "0-1000",
    "relative": "0-1",
}
FRAME_DOUBT_LEAST = 5  # boxes it takes to judge a frame, at the least, and the samples they come from
FRAME_DOUBT_SAMPLES = 3
FRAME_IOU_MARGIN = 0.2  # how much better another frame must match the evidence boxes to be named


@dataclass(frozen=True)
class FrameFit:
    """How a set of chains' boxes sit on their images when read in one frame kind."""

    kind: str
    boxes: int  # well-formed boxes
    plausible: int  # of them, inside the image with an area of at least a pixel
    iou: float | None  # mean union IoU with the evidence boxes, over the samples that have both; None: no such sample
    samples: int  # samples with at least one well-formed box


def frame_fit(items: Iterable[tuple[Chain, float, float, Sequence]], spec: FrameSpec) -> FrameFit:
    """:class:`FrameFit` of ``(chain, image width, image height, evidence boxes)`` items read in ``spec``'s frame."""
    boxes = plausible = samples = 0
    ious = []
    for chain, width, height, evidence in items:
        try:
            frame = frame_for(spec, width, height)
        except ValueError:  # an image this frame cannot hold (the resized one refuses extreme aspect ratios)
            continue
        placed = [p for p in place_boxes(chain, frame, "any") if p.original is not None]
        boxes += len(placed)
        samples += bool(placed)
        plausible += sum(not p.check.out_of_image and area(p.original) >= 1 for p in placed)
        if placed and len(evidence):
            ious.append(union_iou([p.original for p in placed], [tuple(float(v) for v in b) for b in evidence]))
    return FrameFit(spec.kind, boxes, plausible, sum(ious) / len(ious) if ious else None, samples)


def frame_doubt(items: Sequence[tuple[Chain, float, float, Sequence]], spec: FrameSpec) -> str | None:
    """Where the chains' boxes fit another frame kind than ``spec``'s far better, a person's account of it (the
    fix left to the caller: a ``--frame`` option), else None. Better means: where the samples have evidence boxes,
    a mean union IoU with them higher by :data:`FRAME_IOU_MARGIN` and at least twice as high; without evidence,
    fewer than half of the boxes plausible (not out of the image, at least a pixel in area) as read, and at least
    twice as many in the other frame. Boxes written in 0-1 and read as pixels land in the top-left pixel and still
    count as valid: this is where that mistake shows."""
    fits = {kind: frame_fit(items, replace(spec, kind=kind)) for kind in FRAME_KINDS}
    now = fits[spec.kind]
    if now.boxes < FRAME_DOUBT_LEAST or now.samples < FRAME_DOUBT_SAMPLES:
        return None
    others = [f for f in fits.values() if f.kind != spec.kind]
    if now.iou is not None:
        others = [f for f in others if f.iou is not None]  # a frame that cannot hold every image may have none
        best = max((f.iou for f in others), default=0.0)
        if best < now.iou + FRAME_IOU_MARGIN or best < 2 * now.iou:
            return None
        better = [f for f in others if f.iou >= best - 0.01]
        told = f"their union IoU with the evidence boxes is {now.iou:.2f} as read"
        told += "".join(f", {f.iou:.2f} as {FRAME_WORDS[f.kind]} (--frame {f.kind})" for f in better)
    else:
        best = max(f.plausible for f in others)
        if 2 * now.plausible >= now.boxes or best < 2 * max(now.plausible, 1):
            return None
        better = [f for f in others if f.plausible == best]
        told = f"{now.plausible} of {now.boxes} boxes lie inside the image as read"
        told += "".join(f", {f.plausible} as {FRAME_WORDS[f.kind]} (--frame {f.kind})" for f in better)
    return (
        f"the boxes were read as {FRAME_WORDS[spec.kind]} (--frame {spec.kind}) but fit another frame better: {told}"
    )
