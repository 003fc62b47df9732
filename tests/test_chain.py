import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grit.chain import BOX_SYNTAXES, paper_boxes, parse, render, render_box

FULL = (
    '<think> The truck {"bbox_2d": [0, 209, 488, 364], "label": "truck"} and the cat '
    '{"bbox_2d": [134, 115, 331, 228], "label": "cat"} </think> <rethink> The cat is on the truck. </rethink> '
    "<answer> Yes </answer>"
)


def test_full_chain_segments_boxes_answer():
    c = parse(FULL)
    assert c.strict and c.in_order and c.problems == ()
    assert [s.present for s in (c.think, c.rethink, c.answer)] == [True, True, True]
    assert [s.closed for s in (c.think, c.rethink, c.answer)] == [True, True, True]
    assert c.answer_text == "Yes"
    assert c.rethink.content.strip() == "The cat is on the truck."
    assert [(b.coords, b.label, b.segment, b.syntax, b.well_formed) for b in c.boxes] == [
        ((0, 209, 488, 364), "truck", "think", "json", True),
        ((134, 115, 331, 228), "cat", "think", "json", True),
    ]


@pytest.mark.parametrize(
    "text, coords, labels, syntax",
    [
        (
            '{"bbox_2d": [1, 2, 3, 4], "label": "a", "bbox_2d": [5, 6, 7, 8], "label": "b"}',
            [(1, 2, 3, 4), (5, 6, 7, 8)],
            ["a", "b"],
            "json",
        ),
        ('{"label": "a", "bbox_2d": [1, 2, 3, 4]}', [(1, 2, 3, 4)], ["a"], "json"),
        ("{'bbox_2d': [1.5, 2.25, 3, 4]}", [(1.5, 2.25, 3, 4)], [None], "json"),
        (
            "bbox_2d_1: [0, 28, 305, 364] bbox_2d_2: [275, 0, 410, 280]",
            [(0, 28, 305, 364), (275, 0, 410, 280)],
            [None, None],
            "json",
        ),
        ("boxes [10, 20, 30, 40] and [50, 60, 70, 80]", [(10, 20, 30, 40), (50, 60, 70, 80)], [None, None], "list"),
        (
            "1. (200, 168, 248, 202) 2. (169, 159, 214, 186)",
            [(200, 168, 248, 202), (169, 159, 214, 186)],
            [None, None],
            "tuple",
        ),
        (
            "<ref>chair</ref> <box>[[142, 314, 299, 447], [10, 10, 20, 20]]</box>",
            [(142, 314, 299, 447), (10, 10, 20, 20)],
            ["chair", "chair"],
            "internvl",
        ),
        ("<box>[[1, 2, 3, 4]]</box>", [(1, 2, 3, 4)], [None], "internvl"),
        (
            "<|object_ref_start|>dog<|object_ref_end|><|box_start|>(10,20),(300,400)<|box_end|>",
            [(10, 20, 300, 400)],
            ["dog"],
            "qwen2",
        ),
        ("<|box_start|>(1.5,2),(3,4)<|box_end|>", [(1.5, 2, 3, 4)], [None], "qwen2"),
    ],
)
def test_box_syntaxes(text, coords, labels, syntax):
    c = parse(f"<think> {text} </think>")
    assert [b.coords for b in c.boxes] == coords
    assert [b.label for b in c.boxes] == labels
    assert {b.syntax for b in c.boxes} == {syntax}
    assert all(b.well_formed and b.segment == "think" for b in c.boxes)


def test_integer_flag_and_malformed_boxes():
    c = parse('{"bbox_2d": [66, 6, 9, 9, 9, 3 </think> {"bbox_2d": [1, 2, 3]} [1.0, 2, 3, 4]')
    assert [b.well_formed for b in c.boxes] == [False, False, True]
    assert c.boxes[0].coords == (66, 6, 9, 9, 9, 3)
    assert c.boxes[2].integers is False and c.boxes[0].integers is True
    with pytest.raises(ValueError):
        _ = c.boxes[0].box


def test_lists_of_other_lengths_are_not_boxes():
    assert parse("[1, 2] (1, 2, 3) [1, 2, 3, 4, 5]").boxes == ()


@pytest.mark.parametrize(
    "text, problem",
    [
        ("<think> a </think> <rethink> b </rethink> <answer> 1", "<answer> x1, </answer> x0 (need exactly one each)"),
        ("x <think> a </think> <rethink> b </rethink> <answer> 1 </answer>", "does not start with <think>"),
        (
            "<think> a </think> <answer> 1 </answer> <rethink> b </rethink>",
            "blocks are not in the order think, rethink, answer",
        ),
        (
            "<think> a </think> <think> a </think> <rethink> b </rethink> <answer> 1 </answer>",
            "<think> x2, </think> x2 (need exactly one each)",
        ),
        ("<think> a </think> <rethink> b </rethink> <answer> </answer>", "empty answer"),
        (
            "<think> a </think> junk <rethink> b </rethink> <answer> 1 </answer>",
            "text outside the think / rethink / answer blocks",
        ),
        (
            "<think> a </think> <rethink> b </rethink> <answer> 1 </answer> more",
            "text outside the think / rethink / answer blocks",
        ),
        ("", "does not start with <think>"),
    ],
)
def test_strictness_problems(text, problem):
    c = parse(text)
    assert not c.strict
    assert problem in c.problems


def test_order_and_unclosed_segments():
    c = parse("<think> a <rethink> b </rethink> <answer> c")
    assert c.think.present and not c.think.closed
    assert c.answer.present and not c.answer.closed and c.answer_text == "c"
    assert not c.in_order
    c = parse("<answer> 7 </answer> trailing <answer> 8 </answer>")
    assert c.answer_text == "7" and c.answer.opens == 2


def test_box_segments():
    c = parse(
        "[1, 1, 2, 2] <think> [3, 3, 4, 4] </think> <rethink> [5, 5, 6, 6] </rethink> <answer> [7, 7, 8, 8] </answer>"
    )
    assert [b.segment for b in c.boxes] == [None, "think", "rethink", "answer"]
    assert [b.coords[0] for b in c.boxes_in("think")] == [3]


def test_without_boxes_keeps_labels_and_text():
    c = parse(FULL)
    assert c.without_boxes() == (
        "<think> The truck truck and the cat cat </think> <rethink> The cat is on the truck. </rethink> "
        "<answer> Yes </answer>"
    )
    assert "[" not in parse("<think> at (1, 2, 3, 4) here </think>").without_boxes()


def test_paper_boxes_rule():
    assert paper_boxes("(200, 168, 248, 202) (1.5, 2.5, 3.5, 4.5) 1,2,3,4,5,6,7,8") == [
        (200, 168, 248, 202),
        (1, 2, 3, 4),
        (5, 6, 7, 8),
    ]
    assert paper_boxes('{"bbox_2d": [66, 6, 9, 9, 9, 3') == [(66, 6, 9, 9)]


@pytest.mark.parametrize("syntax", BOX_SYNTAXES)
def test_render_parse_round_trip(syntax):
    boxes = [((10, 20, 30, 40), "red circle"), ((1.5, 2.25, 60, 70), "blue square")]
    text = render(["I look at", boxes[0], "and", boxes[1]], "Two shapes.", "2", syntax)
    c = parse(text)
    assert c.strict, c.problems
    assert [b.coords for b in c.boxes] == [b[0] for b in boxes]
    if syntax in ("json", "internvl", "qwen2"):
        assert [b.label for b in c.boxes] == [b[1] for b in boxes]
    assert c.answer_text == "2"


def test_render_box_rejects_bad_input():
    with pytest.raises(ValueError, match="syntax"):
        render_box((1, 2, 3, 4), syntax="yaml")
    with pytest.raises(ValueError, match="four"):
        render_box((1, 2, 3))


def test_parse_non_strings():
    assert parse(None).text == ""
    assert parse(12).text == "12"


_pieces = st.sampled_from(
    [
        "<think>",
        "</think>",
        "<rethink>",
        "</rethink>",
        "<answer>",
        "</answer>",
        '{"bbox_2d": [',
        '"label": "',
        "[",
        "]",
        "(",
        ")",
        ",",
        "{",
        "}",
        "<ref>",
        "</ref>",
        "<box>",
        "</box>",
        "<|box_start|>",
        "<|box_end|>",
        "<|object_ref_start|>",
        "<|object_ref_end|>",
        "1",
        "23",
        "4.5",
        "-7",
        " ",
        "\n",
        "cat",
        "bbox_2d",
        ":",
        "< think>",
        "</ answer>",
        "<thinking>",
        "</THINK>",
        "<think/>",
        "bbox_2d_3: ",
        "box: ",
        'data-bbox="',
        "<|ref|>",
        "<|det|>",
        "<|/det|>",
        '"point_2d": [',
        '"coordinate": ',
        "[[",
        "]]",
        "(12,40),(300,410)",
        ", ",
        "```json\n",
        ",\n}",
        "999999",
        '"',
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.lists(_pieces | st.text(max_size=3), max_size=60).map("".join)))
def test_parse_never_raises(text):
    c = parse(text)
    for b in (*c.boxes, *c.points):
        assert 0 <= b.start <= b.end <= len(text)
        assert b.segment in (None, "think", "rethink", "answer")
    assert all(not b.well_formed or (len(b.coords) == 4 and all(0 <= v <= 1e5 for v in b.coords)) for b in c.boxes)
    assert all(not p.well_formed or len(p.coords) == 2 for p in c.points)
    assert c.answer_text is None or c.answer_text == c.answer.content.strip()
    c.without_boxes()
    assert isinstance(c.strict, bool)
    paper_boxes(text)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2000), st.integers(0, 2000), st.integers(0, 2000), st.integers(0, 2000)),
        min_size=0,
        max_size=6,
    ),
    st.sampled_from(BOX_SYNTAXES),
)
def test_render_round_trip_property(coords, syntax):
    text = render(["see", *coords], "ok", "1", syntax)
    assert [tuple(int(v) for v in b.coords) for b in parse(text).boxes] == coords
