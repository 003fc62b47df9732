"""The forms real models write boxes, points and tags in (grit.box_syntax), read through grit.chain.parse.

Every example here was written for grit in the style of a model family; none is a copied model output.
"""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grit.chain import paper_boxes, parse

CORPUS = Path(__file__).parent / "corpus" / "real_world_chains.jsonl"


def _boxes(text):
    return [b.coords for b in parse(text).boxes if b.well_formed]


@pytest.mark.parametrize(
    "text, boxes",
    [
        (
            "bbox_2d_3: 212, 64, 297, 150 bbox_2d_4: 305, 70, 388, 148 </think>",
            [(212, 64, 297, 150), (305, 70, 388, 148)],
        ),
        ("bbox_2d: 1, 2, 30, 40.", [(1, 2, 30, 40)]),
        ('"bbox_2d": 5,6,70,80}', [(5, 6, 70, 80)]),
        ("bbox: 10 20 30 40 then", [(10, 20, 30, 40)]),
        ("box = 7, 8, 90, 100 here", [(7, 8, 90, 100)]),
        ('<td data-bbox="12 40 300 88">Total</td>', [(12, 40, 300, 88)]),
        ("bbox_2d_1: [0, 0, 10, 10] bbox_2d_2: 20, 20, 30, 30 and more", [(0, 0, 10, 10), (20, 20, 30, 30)]),
    ],
)
def test_key_with_bare_numbers(text, boxes):
    c = parse(text)
    assert _boxes(text) == boxes
    assert all(b.well_formed for b in c.boxes)


def test_many_keyed_boxes_brackets_dropped_midway_agree_with_the_reference_count():
    # GRIT models start with bbox_2d_1: [..] and drop the brackets a few boxes in; the reference counts them all.
    keys = [f"bbox_2d_{i}: " + ("[{}, {}, {}, {}]" if i <= 2 else "{}, {}, {}, {}") for i in range(1, 16)]
    text = "<think> " + " ".join(k.format(20 * i, 10, 20 * i + 15, 60) for i, k in enumerate(keys)) + " </think>"
    c = parse(text)
    assert len(c.boxes) == len(paper_boxes(text)) == 15
    assert all(b.well_formed for b in c.boxes)


@pytest.mark.parametrize(
    "text",
    ["the box: a red one", "box: 3 cats", "box: [the red one]", "inbox: 1, 2, 3, 4 is not a key of a box"],
)
def test_words_like_keys_name_no_box(text):
    assert parse(text).boxes == ()


@pytest.mark.parametrize(
    "text, boxes, syntax",
    [
        ("the dog(10,20),(300,400)", [(10, 20, 300, 400)], "qwen2"),
        ("(1, 2), (3, 4) and (5,6) (7,8)", [(1, 2, 3, 4), (5, 6, 7, 8)], "qwen2"),
        ("<|box_start|>(10,20),(300,400)<|box_end|>", [(10, 20, 300, 400)], "qwen2"),
        ("<ref>dog</ref><box>(10,20),(300,400)</box>", [(10, 20, 300, 400)], "qwen2"),
        ('{"bbox_2d": [(10, 20), (300, 400)]}', [(10, 20, 300, 400)], "qwen2"),
        ("dog[[10, 20, 300, 400], [5, 5, 9, 9]]", [(10, 20, 300, 400), (5, 5, 9, 9)], "internvl"),
        ("<|ref|>dog<|/ref|><|det|>[[10, 20, 300, 400]]<|/det|>", [(10, 20, 300, 400)], "deepseek"),
    ],
)
def test_two_point_and_grouped_boxes(text, boxes, syntax):
    c = parse(text)
    assert [b.coords for b in c.boxes] == boxes
    assert {b.syntax for b in c.boxes} == {syntax}


@pytest.mark.parametrize("text", ["(1,2),(3,4),(5,6)", "at (10, 20) only", "[[1, 2], [3, 4]]", "(1,2),(3,4"])
def test_points_in_prose_make_no_box(text):
    c = parse(text)
    assert c.boxes == () and c.points == ()


def test_json_with_trailing_commas_other_keys_duplicates_and_nesting():
    text = (
        '```json\n[\n  {"bbox_2d": [1, 2, 30, 40], "text_content": "SALE",},\n'
        '  {"label": "cup", "bbox_2d": [[5, 6, 70, 80], [9, 9, 99, 99]], "score": 0.9,},\n'
        '  {"bbox_2d": [11, 12, 13, 14], "label": "a", "bbox_2d": [15, 16, 17, 18], "label": "b"},\n]\n```'
    )
    c = parse(text)
    assert [(b.coords, b.label) for b in c.boxes] == [
        ((1, 2, 30, 40), "SALE"),
        ((5, 6, 70, 80), "cup"),
        ((9, 9, 99, 99), "cup"),
        ((11, 12, 13, 14), "a"),
        ((15, 16, 17, 18), "b"),
    ]
    assert all(b.well_formed and b.syntax == "json" for b in c.boxes)


@pytest.mark.parametrize(
    "text, points",
    [
        ('{"point_2d": [233, 411], "label": "eye"}', [((233, 411), "eye")]),
        ('{"action": "click", "coordinate": [1024, 377]}', [((1024, 377), None)]),
        ('{"action": "swipe", "coordinate": [5, 900], "coordinate2": [5, 100]}', [((5, 900), None), ((5, 100), None)]),
        ("point: 12, 40 on the map", [((12, 40), None)]),
        ('{"point_2d": [[1, 2], [3, 4]]}', [((1, 2), None), ((3, 4), None)]),
    ],
)
def test_points_are_read_apart_from_boxes(text, points):
    c = parse(f"<think> {text} </think>")
    assert c.boxes == ()
    assert [(p.coords, p.label) for p in c.points] == points
    assert all(p.well_formed and p.segment == "think" for p in c.points)


def test_a_point_with_other_than_two_numbers_is_a_malformed_point_not_a_box():
    c = parse('{"point_2d": [10, 20, 30, 40]} {"coordinate": [7]}')
    assert c.boxes == ()
    assert [(p.coords, p.well_formed) for p in c.points] == [((10, 20, 30, 40), False), ((7,), False)]


def test_without_boxes_removes_points_too():
    c = parse('<think> click {"point_2d": [3, 4], "label": "button"} then [1, 2, 3, 4] </think>')
    assert c.without_boxes() == "<think> click button then </think>"


@pytest.mark.parametrize(
    "text, coords",
    [
        ('{"bbox_2d": [1, 2, 3, 4, 5]}', (1, 2, 3, 4, 5)),
        ("bbox_2d: 1, 2, 3, 4, 5 more", (1, 2, 3, 4, 5)),
        ("<box>[[1, 2, 3, 4, 5]]</box>", (1, 2, 3, 4, 5)),
        ("[[1, 2, 3, 4, 5]]", (1, 2, 3, 4, 5)),
        ('{"bbox_2d": [-3, 2, 30, 40]}', (-3, 2, 30, 40)),
        ("[10, 20, 30, 400000]", (10, 20, 30, 400000)),
        ("(1,2),(3,-4)", (1, 2, 3, -4)),
        ('{"bbox_2d": [10, 20, 30', (10, 20, 30)),
        ("bbox_2d_2: 10, 20, 30, 4", (10, 20, 30, 4)),  # meets the end: the last number may be cut
        ('{"bbox_2d": [[1, 2, 3, 4], [5, 6', (5, 6)),
    ],
)
def test_malformed_boxes_are_never_shifted(text, coords):
    c = parse(text)
    assert coords in [b.coords for b in c.boxes if not b.well_formed]
    assert all(b.coords == (1, 2, 3, 4) for b in c.boxes if b.well_formed)


def test_loose_tags_read_but_never_strict():
    c = parse("< think> a [1, 2, 3, 4] </ think> <Rethink> b </Rethink> <answer> 7 </ answer>")
    assert c.think.present and c.think.content.strip() == "a [1, 2, 3, 4]" and c.think.variant
    assert not c.think.closed and c.think.opens == 0 and c.think.closes == 0
    assert c.rethink.content.strip() == "b" and c.answer_text == "7"
    assert c.boxes[0].segment == "think"
    assert not c.strict and "does not start with <think>" in c.problems
    c = parse("<thinking>\nx\n</thinking>\n<answer>\n1\n</answer>")
    assert c.think.present and c.think.content.strip() == "x" and c.answer_text == "1" and not c.strict


@pytest.mark.parametrize(
    "text",
    [
        "<think> a </think> <rethink> b </rethink> <answer> 1 </ answer>",
        "<think> a </ think> <rethink> b </rethink> <answer> 1 </answer>",
        "<thinking> a </thinking> <rethink> b </rethink> <answer> 1 </answer>",
        "<think> a </think> <rethink> b </rethink> < answer> 1 </answer>",
        "<THINK> a </THINK> <rethink> b </rethink> <answer> 1 </answer>",
    ],
)
def test_one_loose_tag_fails_the_strict_format(text):
    assert not parse(text).strict


def test_loose_tags_inside_a_strict_chain_are_text():
    text = "<think> I write < think> and </ think> here </think> <rethink> b </rethink> <answer> 1 </answer>"
    assert parse(text).strict


def test_loose_closing_tag_does_not_close_for_the_grit_gates():
    # The grit preset credits boxes only in a single closed <think>; a loose close must not open that gate.
    c = parse("</think> <think> [1, 1, 9, 9] </ think>")
    assert c.think.present and not c.think.closed


def test_self_closing_think_opens_nothing():
    c = parse("<think/>\n</think>\n<answer>July 4</answer>")
    assert not c.think.present and c.think.closes == 1 and c.answer_text == "July 4"


@pytest.mark.parametrize(
    "text, answer",
    [
        ("<think> draft <answer> 3 </answer> no, 4 </think> <answer> 4 </answer>", "4"),
        ("<think> a </think> <answer> 7 </answer> then <answer> 8 </answer>", "7"),
        ("<think> a </think> <think> b <answer> d </answer> </think> <answer> y </answer>", "y"),
        ("<think> x <rethink> <answer> d </answer> </rethink> </think> <answer> y </answer>", "y"),
        ("<think> Final answer: <answer>2</answer> <think> more", "2"),  # only inside: the first
        ("<answer> A </answer> <think> later <answer> B </answer>", "A"),
    ],
)
def test_which_answer_counts(text, answer):
    c = parse(text)
    assert c.answer_text == answer
    assert not c.strict  # the strict format allows exactly one <answer>


def test_text_after_the_answer_is_read_but_not_strict():
    c = parse("<think> a </think> <rethink> b </rethink> <answer> 5 </answer> Hope this helps!")
    assert c.answer_text == "5" and not c.strict


def _corpus():
    with open(CORPUS, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_corpus_is_large_and_varied():
    entries = _corpus()
    assert len(entries) >= 40
    assert len({e["id"] for e in entries}) == len(entries)
    assert {"grit", "qwen2.5-vl", "qwen2-vl", "qwen-vl", "internvl", "deepseek-vl2", "r1"} <= {
        e["style"] for e in entries
    }


@pytest.mark.parametrize("entry", _corpus(), ids=lambda e: e["id"])
def test_corpus_entry(entry):
    c = parse(entry["text"])
    good = [b for b in c.boxes if b.well_formed]
    assert [list(b.coords) for b in good] == entry["boxes"]
    assert [list(p.coords) for p in c.points if p.well_formed] == entry["points"]
    assert c.answer_text == entry["answer"]
    if "malformed" in entry:
        assert sum(not b.well_formed for b in c.boxes) == entry["malformed"]
    if "labels" in entry:
        assert [b.label for b in good] == entry["labels"]
    if "segments" in entry:
        assert [b.segment for b in good] == entry["segments"]
    if "strict" in entry:
        assert c.strict == entry["strict"], c.problems
    for name in ("think", "rethink"):
        if name in entry:
            assert c.segment(name).present == entry[name]


_coords = st.tuples(*[st.integers(0, 1400)] * 4)
# How each form writes box {0}..{3} as the {4}-th of the chain.
_FORMS = {
    "json": '{{"bbox_2d": [{0}, {1}, {2}, {3}], "label": "thing"}},',
    "keyed": "bbox_2d_{4}: {0}, {1}, {2}, {3}",
    "spaced": '<p data-bbox="{0} {1} {2} {3}">text</p>',
    "tuple": "{4}. ({0}, {1}, {2}, {3})",
    "two_point": "the thing({0},{1}),({2},{3})",
    "internvl": "the thing[[{0}, {1}, {2}, {3}]]",
    "deepseek": "<|ref|>thing<|/ref|><|det|>[[{0}, {1}, {2}, {3}]]<|/det|>",
}


def _write(boxes, points, forms):
    parts = []
    for i, (b, form) in enumerate(zip(boxes, forms), 1):
        parts.append(_FORMS[form].format(*b, i))
        if i <= len(points):
            parts.append('{{"point_2d": [{}, {}]}}'.format(*points[i - 1]))
    return "<think> " + " and ".join(parts) + " </think> <rethink> ok </rethink> <answer> 1 </answer>"


_chains = st.integers(0, 6).flatmap(
    lambda n: st.tuples(
        st.lists(_coords, min_size=n, max_size=n),
        st.lists(st.tuples(st.integers(0, 999), st.integers(0, 999)), max_size=n),
        st.lists(st.sampled_from(sorted(_FORMS)), min_size=n, max_size=n),
    )
)


@settings(max_examples=200, deadline=None)
@given(_chains)
def test_every_form_reads_back_and_points_stay_points(chain):
    boxes, points, forms = chain
    c = parse(_write(boxes, points, forms))
    assert [tuple(int(v) for v in b.coords) for b in c.boxes] == boxes
    assert all(b.well_formed and b.segment == "think" for b in c.boxes)
    assert [tuple(int(v) for v in p.coords) for p in c.points] == points[: len(boxes)]
    assert c.strict


@settings(max_examples=300, deadline=None)
@given(_chains, st.floats(0, 1))
def test_a_cut_off_chain_never_gains_a_box(chain, where):
    # The length limit cuts a completion anywhere: what is left may lose boxes, never read a wrong one.
    boxes, points, forms = chain
    text = _write(boxes, points, forms)
    cut = parse(text[: int(where * len(text))])
    kept = [b.coords for b in cut.boxes if b.well_formed]
    assert kept == [b.coords for b in parse(text).boxes][: len(kept)]
    assert len(cut.points) <= len(points)


_EXACT = ("<think>", "</think>", "<rethink>", "</rethink>", "<answer>", "</answer>")
_LOOSE = ("< think>", "</ think>", "<thinking>", "</Answer>", "< rethink >", "</rethinking>", "<ANSWER>", "<think/>")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_EXACT + _LOOSE + (" a ", " [1, 2, 30, 40] ", "\n", "x")), max_size=16))
def test_loose_tags_never_change_what_the_strict_rules_see(pieces):
    # Only exact tags count for the strict format: a loose tag weighs as much as any other text of its length.
    # And a block that exact tags make alone (the grit rewards' gate) is that same block, loose tags or not.
    text = "".join(pieces)
    masked = "".join("#" * len(p) if p in _LOOSE else p for p in pieces)
    c, exact = parse(text), parse(masked)
    assert c.problems == exact.problems
    for name in ("think", "rethink", "answer"):
        seg, ref = c.segment(name), exact.segment(name)
        assert (seg.opens, seg.closes) == (ref.opens, ref.closes)
        if ref.opens == 1:
            assert seg.closed == ref.closed
            assert not ref.closed or (seg.start, seg.end) == (ref.start, ref.end)


@pytest.mark.parametrize(
    "text, label",
    [
        ('{"bbox_2d": [1, 2, 3, 4], "label": "man\'s hat"}', "man's hat"),
        ('{"bbox_2d": [1, 2, 3, 4], "label": "the \\"big\\" dog"}', 'the "big" dog'),
        ("{'bbox_2d': [1, 2, 3, 4], 'label': 'the \"big\" dog'}", 'the "big" dog'),
        ('{"bbox_2d": [1, 2, 3, 4], "label": "box: 5, 6"}', "box: 5, 6"),  # a key inside a label is text
        ('{"bbox_2d": [1, 2, 3, 4], "label": "caf\\u00e9"}', "café"),  # JSON's escapes decoded
    ],
)
def test_labels_keep_the_other_quote_and_escaped_quotes(text, label):
    c = parse(f"<think> {text} </think>")
    assert [(b.coords, b.label, b.well_formed) for b in c.boxes] == [((1, 2, 3, 4), label, True)]
    assert c.without_boxes() == f"<think> {label} </think>"


@pytest.mark.parametrize("text", ["<think>In box: 1, 2, 3 there are zebras.</think>", "Let box = 2, 3 apples each."])
def test_a_generic_key_with_a_wrong_count_of_bare_numbers_in_prose_is_no_box(text):
    assert parse(text).boxes == ()


def test_a_generic_key_with_a_wrong_count_in_an_object_is_a_malformed_box():
    c = parse('{"bbox": "10, 20, 30", "label": "dog"} and "box": 1, 2, 3 more')
    assert [(b.coords, b.well_formed) for b in c.boxes] == [((10, 20, 30), False), ((1, 2, 3), False)]


def test_numbered_box_keys_are_keys():
    assert _boxes("box_1: 10, 20, 30, 40 and box_2: [5, 6, 7, 8]") == [(10, 20, 30, 40), (5, 6, 7, 8)]


@pytest.mark.parametrize(
    "text, answer",
    [
        ("<think> a </think> <rethink> b </rethink> <answer>7<|im_end|>", "7"),
        ("<answer> Yes <|endoftext|>", "Yes"),
        ("<answer> red <|eot_id|><|start_header_id|>", "red"),
        ("<answer>7</ans", "7"),  # the closing tag cut by the length limit
        ('<answer>black\n<tool_call>\n{"name": "zoom", "arguments": {"bbox_2d": [1, 2, 3, 4]}}\n', "black"),
        ("<answer> 3 < 4", "3 < 4"),
        ("<answer> 7<end_of_utterance>", "7"),
        ("<answer> |a|<|b|> holds", "|a|<|b|> holds"),  # not a special token: one letter
    ],
)
def test_an_answer_left_open_ends_at_a_special_token_a_tool_call_or_a_cut_closing_tag(text, answer):
    c = parse(text)
    assert c.answer_text == answer and not c.strict
    assert all(b.segment != "answer" for b in c.boxes)  # the tool call's box is not the answer's


def test_thousands_of_boxes_keep_their_own_labels_and_forms():
    # Objects with the label after the box, before it, or none, between bare and two-point boxes: each box keeps its
    # own object's label at any length (the claimed spans and labels are looked up by bisection).
    pieces, expected = [], []
    for i in range(3000):
        box = (i % 90, i % 70, i % 90 + 5, i % 70 + 5)
        kind = i % 5
        if kind == 0:
            pieces.append(f'{{"bbox_2d": [{box[0]}, {box[1]}, {box[2]}, {box[3]}], "label": "s{i}"}}')
            expected.append((box, f"s{i}", "json"))
        elif kind == 1:
            pieces.append(f'{{"label": "s{i}", "bbox_2d": [{box[0]}, {box[1]}, {box[2]}, {box[3]}]}}')
            expected.append((box, f"s{i}", "json"))
        elif kind == 2:
            pieces.append(f'{{"bbox_2d": [{box[0]}, {box[1]}, {box[2]}, {box[3]}]}}')
            expected.append((box, None, "json"))
        elif kind == 3:
            pieces.append(f"[{box[0]}, {box[1]}, {box[2]}, {box[3]}]")
            expected.append((box, None, "list"))
        else:
            pieces.append(f"({box[0]},{box[1]}),({box[2]},{box[3]})")
            expected.append((box, None, "qwen2"))
    c = parse("<think> " + " then ".join(pieces) + " </think>")
    assert [(b.coords, b.label, b.syntax) for b in c.boxes] == expected
