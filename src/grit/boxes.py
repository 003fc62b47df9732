"""Box maths: coordinate frames, validity flags, IoU, the exact union IoU and one-to-one matching.

This is the only place where a box changes frame. Every model writes boxes in some frame:
- ``resized``: absolute pixels of the model's *resized* input (Qwen2.5-VL). The resize rule is
  :func:`qwen_resize` and depends on the processor's ``min_pixels`` / ``max_pixels``;
- ``norm1000``: 0-1000 normalised (Qwen2-VL, InternVL, Qwen3-VL);
- ``relative``: 0-1 normalised;
- ``original``: pixels of the original image (data sets store evidence boxes this way).
A :class:`Frame` ties one of those kinds to one image and maps boxes to original pixels and back.

A box is a plain ``(x1, y1, x2, y2)`` tuple of floats, top-left origin, x to the right, y down.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

Box = tuple[float, float, float, float]

FRAME_KINDS = ("original", "resized", "norm1000", "relative")

# Qwen2-VL / Qwen2.5-VL processor defaults (transformers' Qwen2VLImageProcessor) and the GRIT trainer's.
QWEN_FACTOR = 28
QWEN_MIN_PIXELS = 56 * 56
QWEN_MAX_PIXELS = 28 * 28 * 1280
GRIT_TRAIN_MAX_PIXELS = 256 * 28 * 28


def qwen_resize(
    height: int,
    width: int,
    factor: int = QWEN_FACTOR,
    min_pixels: int = QWEN_MIN_PIXELS,
    max_pixels: int = QWEN_MAX_PIXELS,
) -> tuple[int, int]:
    """The (height, width) a Qwen2/2.5-VL processor resizes an image to.

    Both sides become multiples of ``factor`` (patch size x merge size = 28), the area is kept within
    [min_pixels, max_pixels] and the aspect ratio is kept as well as rounding allows.

    >>> qwen_resize(480, 640, max_pixels=256 * 28 * 28)
    (364, 504)
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got height={height}, width={width}")
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio of {width}x{height} is over 200, which Qwen-VL processors refuse")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


@dataclass(frozen=True)
class Frame:
    """The coordinate frame of the boxes a model writes about one image.

    ``width`` and ``height`` are the original image's; ``frame_width`` / ``frame_height`` give the extent of
    the frame itself (the resized size, 1000, 1 or the original size).
    """

    kind: str
    width: float
    height: float
    frame_width: float
    frame_height: float

    def __post_init__(self):
        if self.kind not in FRAME_KINDS:
            raise ValueError(f"unknown frame kind {self.kind!r}; use one of {', '.join(FRAME_KINDS)}")
        if not (self.width > 0 and self.height > 0 and self.frame_width > 0 and self.frame_height > 0):
            raise ValueError(f"frame sizes must be positive, got {self}")

    @classmethod
    def original(cls, width: float, height: float) -> Frame:
        return cls("original", width, height, width, height)

    @classmethod
    def norm1000(cls, width: float, height: float) -> Frame:
        return cls("norm1000", width, height, 1000.0, 1000.0)

    @classmethod
    def relative(cls, width: float, height: float) -> Frame:
        return cls("relative", width, height, 1.0, 1.0)

    @classmethod
    def resized(cls, width: float, height: float, resized_width: float, resized_height: float) -> Frame:
        return cls("resized", width, height, resized_width, resized_height)

    @classmethod
    def qwen(
        cls,
        width: int,
        height: int,
        min_pixels: int = QWEN_MIN_PIXELS,
        max_pixels: int = QWEN_MAX_PIXELS,
        factor: int = QWEN_FACTOR,
    ) -> Frame:
        """The frame of a Qwen2/2.5-VL model whose processor has these resize settings."""
        resized_height, resized_width = qwen_resize(int(height), int(width), factor, min_pixels, max_pixels)
        return cls.resized(width, height, resized_width, resized_height)

    @property
    def scale(self) -> tuple[float, float]:
        """Multipliers (sx, sy) from this frame to original pixels."""
        return self.width / self.frame_width, self.height / self.frame_height

    def to_original(self, box: Sequence[float]) -> Box:
        sx, sy = self.scale
        x1, y1, x2, y2 = box
        return (x1 * sx, y1 * sy, x2 * sx, y2 * sy)

    def from_original(self, box: Sequence[float]) -> Box:
        sx, sy = self.scale
        x1, y1, x2, y2 = box
        return (x1 / sx, y1 / sy, x2 / sx, y2 / sy)


@dataclass(frozen=True)
class FrameSpec:
    """How to build the :class:`Frame` for any image: the model family's frame kind and resize settings.

    Rewards and metrics hold one of these and call :meth:`frame` per sample with its image size.
    """

    kind: str = "resized"
    min_pixels: int = QWEN_MIN_PIXELS
    max_pixels: int = QWEN_MAX_PIXELS
    factor: int = QWEN_FACTOR

    def __post_init__(self):
        if self.kind not in FRAME_KINDS:
            raise ValueError(f"unknown frame kind {self.kind!r}; use one of {', '.join(FRAME_KINDS)}")

    def frame(self, width: float, height: float) -> Frame:
        if self.kind == "resized":
            return Frame.qwen(int(width), int(height), self.min_pixels, self.max_pixels, self.factor)
        return {"original": Frame.original, "norm1000": Frame.norm1000, "relative": Frame.relative}[self.kind](
            width, height
        )


def clip(box: Sequence[float], width: float, height: float) -> Box:
    """Clip a box to the image [0, width] x [0, height]."""
    x1, y1, x2, y2 = box
    return (
        min(max(x1, 0.0), width),
        min(max(y1, 0.0), height),
        min(max(x2, 0.0), width),
        min(max(y2, 0.0), height),
    )


def area(box: Sequence[float]) -> float:
    x1, y1, x2, y2 = box
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)


def is_degenerate(box: Sequence[float]) -> bool:
    """True when the box has no area: x2 <= x1 or y2 <= y1 (or a coordinate is not finite)."""
    x1, y1, x2, y2 = box
    if not all(math.isfinite(v) for v in box):
        return True
    return x2 <= x1 or y2 <= y1


def is_out_of_image(box: Sequence[float], width: float, height: float, tolerance: float = 1.0) -> bool:
    """True when any corner lies outside the image by more than ``tolerance`` original pixels.

    The tolerance absorbs the rounding of frames: a box drawn to the resized edge maps to within a pixel
    of the original edge.
    """
    x1, y1, x2, y2 = box
    return (
        min(x1, x2) < -tolerance
        or min(y1, y2) < -tolerance
        or max(x1, x2) > width + tolerance
        or max(y1, y2) > height + tolerance
    )


# A box covering at least this share of the image grounds nothing (rewards, metrics and drawings all use it).
WHOLE_IMAGE_THRESHOLD = 0.95


def is_whole_image(
    box: Sequence[float], width: float, height: float, threshold: float = WHOLE_IMAGE_THRESHOLD
) -> bool:
    """True when the box, clipped to the image, covers at least ``threshold`` of the image area.

    A box around the whole picture grounds nothing; policies learn it when boxes are rewarded blindly.
    """
    return area(clip(box, width, height)) >= threshold * width * height


# A box narrower or lower than this, in original pixels, grounds nothing: 0-1 coordinates read as pixels, say.
MIN_BOX_SIDE = 1.0


@dataclass(frozen=True)
class BoxCheck:
    degenerate: bool
    out_of_image: bool
    whole_image: bool
    subpixel: bool = False  # under MIN_BOX_SIDE on a side, though not degenerate

    @property
    def valid(self) -> bool:
        return not (self.degenerate or self.out_of_image or self.whole_image or self.subpixel)


def check_box(
    box: Sequence[float], width: float, height: float, whole_image_threshold: float = WHOLE_IMAGE_THRESHOLD
) -> BoxCheck:
    """Validity flags of a box given in original pixels."""
    degenerate = is_degenerate(box)
    return BoxCheck(
        degenerate=degenerate,
        out_of_image=(not all(math.isfinite(v) for v in box)) or is_out_of_image(box, width, height),
        whole_image=(not degenerate) and is_whole_image(box, width, height, whole_image_threshold),
        subpixel=(not degenerate) and min(box[2] - box[0], box[3] - box[1]) < MIN_BOX_SIDE,
    )


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes; 0 when either has no area.

    >>> iou((0, 0, 2, 2), (1, 0, 3, 2))
    0.3333333333333333
    """
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, ix) * max(0.0, iy)
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def _coverage(boxes: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Boolean (len(ys)-1, len(xs)-1) grid: which elementary cells some box covers."""
    cx = (xs[:-1] + xs[1:]) / 2  # (X,)
    cy = (ys[:-1] + ys[1:]) / 2  # (Y,)
    if len(boxes) == 0:
        return np.zeros((len(cy), len(cx)), dtype=bool)
    in_x = (cx[None, :] > boxes[:, 0:1]) & (cx[None, :] < boxes[:, 2:3])  # (N, X)
    in_y = (cy[None, :] > boxes[:, 1:2]) & (cy[None, :] < boxes[:, 3:4])  # (N, Y)
    return np.einsum("ny,nx->yx", in_y.astype(np.int32), in_x.astype(np.int32)) > 0


def _as_array(boxes: Iterable[Sequence[float]]) -> np.ndarray:
    arr = np.asarray([tuple(b) for b in boxes if not is_degenerate(b)], dtype=np.float64)
    return arr.reshape(-1, 4)


def union_area(boxes: Iterable[Sequence[float]]) -> float:
    """Exact area of the union of boxes (coordinate compression, no raster)."""
    arr = _as_array(boxes)
    if len(arr) == 0:
        return 0.0
    xs = np.unique(np.concatenate([arr[:, 0], arr[:, 2]]))
    ys = np.unique(np.concatenate([arr[:, 1], arr[:, 3]]))
    cells = np.outer(np.diff(ys), np.diff(xs))  # (Y, X)
    return float((cells * _coverage(arr, xs, ys)).sum())


def union_iou(predicted: Iterable[Sequence[float]], truth: Iterable[Sequence[float]]) -> float:
    """The paper's grounding IoU: area of (union of predicted) vs (union of truth), computed exactly.

    Returns 0 when either side is empty (a chain with no box scores 0); callers leave samples without
    truth boxes out of averages.

    >>> union_iou([(0, 0, 2, 2), (2, 0, 4, 2)], [(0, 0, 4, 2)])
    1.0
    """
    p, t = _as_array(predicted), _as_array(truth)
    if len(p) == 0 or len(t) == 0:
        return 0.0
    both = np.concatenate([p, t])
    xs = np.unique(np.concatenate([both[:, 0], both[:, 2]]))
    ys = np.unique(np.concatenate([both[:, 1], both[:, 3]]))
    cells = np.outer(np.diff(ys), np.diff(xs))  # (Y, X)
    cov_p, cov_t = _coverage(p, xs, ys), _coverage(t, xs, ys)
    inter = float((cells * (cov_p & cov_t)).sum())
    union = float((cells * (cov_p | cov_t)).sum())
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Matching:
    """One-to-one (Hungarian) matching of predicted to truth boxes.

    ``pairs`` are (predicted index, truth index, IoU) for every assigned pair; ``mean_iou`` sums the matched
    IoUs over max(#predicted, #truth), so unmatched boxes on either side count as 0 (and two empty sides
    score 1). ``precision`` / ``recall`` count pairs with IoU >= threshold.
    """

    pairs: tuple[tuple[int, int, float], ...]
    num_predicted: int
    num_truth: int
    threshold: float

    @property
    def hits(self) -> int:
        return sum(1 for _, _, v in self.pairs if v >= self.threshold)

    @property
    def mean_iou(self) -> float:
        denominator = max(self.num_predicted, self.num_truth)
        return 1.0 if denominator == 0 else sum(v for _, _, v in self.pairs) / denominator

    @property
    def precision(self) -> float | None:
        return None if self.num_predicted == 0 else self.hits / self.num_predicted

    @property
    def recall(self) -> float | None:
        return None if self.num_truth == 0 else self.hits / self.num_truth


def match_boxes(
    predicted: Sequence[Sequence[float]], truth: Sequence[Sequence[float]], threshold: float = 0.5
) -> Matching:
    """Hungarian matching maximising total IoU.

    >>> m = match_boxes([(0, 0, 2, 2), (10, 10, 12, 12)], [(0, 0, 2, 2)])
    >>> m.mean_iou, m.precision, m.recall
    (0.5, 0.5, 1.0)
    """
    if len(predicted) == 0 or len(truth) == 0:
        return Matching((), len(predicted), len(truth), threshold)
    from scipy.optimize import linear_sum_assignment

    ious = np.array([[iou(p, t) for t in truth] for p in predicted])  # (P, T)
    rows, cols = linear_sum_assignment(-ious)
    pairs = tuple((int(r), int(c), float(ious[r, c])) for r, c in zip(rows, cols))
    return Matching(pairs, len(predicted), len(truth), threshold)
