import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grit.boxes import (
    Frame,
    FrameSpec,
    check_box,
    clip,
    iou,
    match_boxes,
    qwen_resize,
    union_area,
    union_iou,
)


@pytest.mark.parametrize(
    "h, w, min_pixels, max_pixels",
    [
        (480, 640, 3136, 256 * 28 * 28),
        (112, 112, 3136, 12544),
        (375, 500, 3136, 200704),
        (20, 30, 3136, 200704),
        (1080, 1920, 128 * 28 * 28, 512 * 28 * 28),
        (100, 3000, 3136, 200704),
        (61, 47, 56 * 56, 28 * 28 * 1280),
    ],
)
def test_qwen_resize_matches_transformers(h, w, min_pixels, max_pixels):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    assert qwen_resize(h, w, 28, min_pixels, max_pixels) == smart_resize(h, w, 28, min_pixels, max_pixels)


def test_qwen_resize_paper_example():
    # METHOD.md: a 640x480 image becomes about 504x364 under GRIT's max_pixels.
    assert qwen_resize(480, 640, max_pixels=256 * 28 * 28) == (364, 504)


def test_qwen_resize_rejects_bad_sizes():
    with pytest.raises(ValueError):
        qwen_resize(0, 10)
    with pytest.raises(ValueError, match="aspect"):
        qwen_resize(10, 5000)


def test_frames_to_original():
    assert Frame.norm1000(640, 480).to_original((500, 500, 1000, 1000)) == (320, 240, 640, 480)
    assert Frame.relative(640, 480).to_original((0.5, 0.5, 1, 1)) == (320, 240, 640, 480)
    f = Frame.qwen(640, 480, max_pixels=256 * 28 * 28)
    assert (f.frame_width, f.frame_height) == (504, 364)
    assert f.to_original((0, 0, 504, 364)) == pytest.approx((0, 0, 640, 480))
    assert Frame.original(10, 10).to_original((1, 2, 3, 4)) == (1, 2, 3, 4)
    with pytest.raises(ValueError, match="unknown frame"):
        Frame("pixels", 1, 1, 1, 1)
    with pytest.raises(ValueError, match="unknown frame"):
        FrameSpec("pixels")


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["resized", "norm1000", "relative", "original"]),
    st.integers(28, 3000),
    st.integers(28, 3000),
    st.tuples(*[st.floats(0, 1) for _ in range(4)]),
)
def test_frame_round_trip(kind, w, h, rel):
    if max(w, h) / min(w, h) > 200:
        return
    frame = FrameSpec(kind).frame(w, h)
    box = (rel[0] * w, rel[1] * h, rel[2] * w, rel[3] * h)
    back = frame.to_original(frame.from_original(box))
    assert back == pytest.approx(box, rel=1e-9, abs=1e-9)


def test_box_flags():
    assert check_box((10, 10, 20, 20), 100, 100).valid
    assert check_box((20, 10, 10, 20), 100, 100).degenerate
    assert check_box((10, 10, 10, 20), 100, 100).degenerate
    assert check_box((-5, 10, 20, 20), 100, 100).out_of_image
    assert check_box((10, 10, 100.5, 100.5), 100, 100).valid  # rounding tolerance of one pixel
    assert check_box((0, 0, 100, 100), 100, 100).whole_image
    assert check_box((0, 0, 100, 96), 100, 100).whole_image
    assert not check_box((0, 0, 100, 90), 100, 100).whole_image
    assert check_box((0, 0, float("nan"), 4), 100, 100).degenerate
    tiny = check_box((0.1, 0.2, 0.5, 0.6), 100, 100)  # 0-1 coordinates read as pixels
    assert tiny.subpixel and not tiny.degenerate and not tiny.valid
    assert check_box((10, 10, 11, 11), 100, 100).valid  # one pixel is a box
    assert clip((-5, -5, 200, 50), 100, 100) == (0, 0, 100, 50)


def test_iou_values():
    assert iou((0, 0, 2, 2), (0, 0, 2, 2)) == 1.0
    assert iou((0, 0, 2, 2), (1, 0, 3, 2)) == pytest.approx(1 / 3)
    assert iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


_box = st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(1, 20), st.integers(1, 20)).map(
    lambda t: (t[0], t[1], t[0] + t[2], t[1] + t[3])
)


@settings(max_examples=300, deadline=None)
@given(_box, _box)
def test_iou_symmetric_and_bounded(a, b):
    assert iou(a, b) == pytest.approx(iou(b, a))
    assert 0.0 <= iou(a, b) <= 1.0


def _raster(boxes, size=64):
    grid = np.zeros((size, size), dtype=bool)
    for x1, y1, x2, y2 in boxes:
        grid[y1:y2, x1:x2] = True
    return grid


@settings(max_examples=200, deadline=None)
@given(st.lists(_box, max_size=6), st.lists(_box, max_size=6))
def test_union_iou_is_exact(pred, truth):
    # Integer boxes: a 1-pixel raster is exact, so the two must agree to rounding.
    p, t = _raster(pred), _raster(truth)
    assert union_area(pred) == p.sum()
    expected = (p & t).sum() / (p | t).sum() if pred and truth and (p | t).sum() else 0.0
    assert union_iou(pred, truth) == pytest.approx(expected)
    assert union_iou(pred, truth) == pytest.approx(union_iou(truth, pred))


def test_union_iou_cases():
    assert union_iou([], [(0, 0, 1, 1)]) == 0.0
    assert union_iou([(0, 0, 2, 2), (2, 0, 4, 2)], [(0, 0, 4, 2)]) == 1.0
    assert union_iou([(0, 0, 2, 2), (1, 1, 3, 3)], [(0, 0, 3, 3)]) == pytest.approx(7 / 9)
    assert union_iou([(0.5, 0.5, 1.5, 1.5)], [(0, 0, 1, 1)]) == pytest.approx(0.25 / 1.75)


def test_matching():
    m = match_boxes([(0, 0, 2, 2), (10, 10, 12, 12)], [(0, 0, 2, 2)])
    assert (m.mean_iou, m.precision, m.recall) == (0.5, 0.5, 1.0)
    # Hungarian, not greedy: the greedy choice of the best single pair would lose the second match.
    pred = [(0, 0, 10, 10), (0, 0, 10, 14)]
    truth = [(0, 0, 10, 12), (0, 0, 10, 9)]
    m = match_boxes(pred, truth)
    assert {(p, t) for p, t, _ in m.pairs} == {(0, 1), (1, 0)}
    assert m.mean_iou == pytest.approx((0.9 + 12 / 14) / 2)
    empty = match_boxes([], [])
    assert (empty.mean_iou, empty.precision, empty.recall) == (1.0, None, None)
    assert match_boxes([], [(0, 0, 1, 1)]).recall == 0.0
    assert math.isclose(match_boxes([(0, 0, 1, 1)], [(0, 0, 1, 1)], threshold=0.5).precision, 1.0)
