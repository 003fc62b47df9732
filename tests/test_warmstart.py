"""The warm start's chain layouts: every one is a strict chain the default rewards accept, the answer is the one
given, and each box stays inside ``<think>``."""

import pytest

from grit.chain import parse
from grit.warmstart import LAYOUTS, chain_text

GROUPS = [("red circles", [((1, 2, 9, 9), "red circle"), ((20, 2, 29, 9), "red circle")]), ("blue squares", [])]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_is_a_strict_chain_with_its_boxes_in_think(layout):
    chain = parse(chain_text("yes", GROUPS, layout))
    assert chain.strict and chain.answer_text == "yes"
    assert [b.coords for b in chain.boxes] == [(1, 2, 9, 9), (20, 2, 29, 9)]
    assert all(b.segment == "think" for b in chain.boxes)


def test_named_layouts_say_which_group_they_found_nothing_for():
    text = chain_text("no", GROUPS, "named")
    assert "Let me find the red circles:" in text and "I find no blue squares." in text
    assert chain_text("no", GROUPS, "guess_first").startswith("<think> My first answer is no.")


def test_unknown_layout_is_refused_by_name():
    with pytest.raises(ValueError, match="guess_first"):
        chain_text("1", GROUPS, "answer_last")
