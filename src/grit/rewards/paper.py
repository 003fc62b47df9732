"""The paper's rewards, literally (GRIT, arXiv 2505.15879, section 3.2): r = r_format + r_count + r_ans.

- r_format = 0.5 [a <think>..</think> pair] + 0.5 [then a <rethink>..</rethink> pair]
  + 0.5 [at least one box, by the paper's rule: four comma-separated integers, before <rethink>];
- r_count = 0.5 [number of such boxes == gold count], counting samples only;
- r_ans = judged accuracy (binary) + 0.1 BLEU-1 of the answer.
Kept for fidelity and comparison: these terms are easy to hack (see :mod:`grit.rewards.grit`).
"""

from __future__ import annotations

import re
from typing import Any

from grit.chain import Chain, paper_boxes
from grit.rewards.base import Reward, gold_count

_THINK_PAIR_RE = re.compile(r"<think>.*?</think>", re.S)
_RETHINK_AFTER_THINK_RE = re.compile(r"<think>.*?</think>.*?<rethink>.*?</rethink>", re.S)


def before_rethink(text: str) -> str:
    """The text before the first ``<rethink>`` (all of it when there is none): where boxes are expected."""
    return text.split("<rethink>", 1)[0]


class PaperThinkFormat(Reward):
    """0.5 when a ``<think>`` is followed somewhere by ``</think>``.

    >>> PaperThinkFormat()(["x <think> y </think>", "</think> <think>"])
    [0.5, 0.0]
    """

    name = "paper_think_format"

    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float:
        return 0.5 if _THINK_PAIR_RE.search(text) else 0.0


class PaperRethinkFormat(Reward):
    """0.5 when a think pair is followed by a ``<rethink>..</rethink>`` pair.

    >>> PaperRethinkFormat()(["<think> a </think> <rethink> b </rethink>", "<rethink> b </rethink>"])
    [0.5, 0.0]
    """

    name = "paper_rethink_format"

    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float:
        return 0.5 if _RETHINK_AFTER_THINK_RE.search(text) else 0.0


class PaperBoxFormat(Reward):
    """0.5 when at least one box (four comma-separated integers) appears before ``<rethink>``.

    >>> PaperBoxFormat()(["<think> (1, 2, 3, 4) </think> <rethink>", "<rethink> 1, 2, 3, 4"])
    [0.5, 0.0]
    """

    name = "paper_box_format"

    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float:
        return 0.5 if paper_boxes(before_rethink(text)) else 0.0


class PaperCount(Reward):
    """0.5 when the number of boxes before ``<rethink>`` equals the gold count; None for non-counting samples.

    >>> PaperCount()(["1, 2, 3, 4 and 5, 6, 7, 8 <rethink>"], answer=["2"], answer_type=["count"])
    [0.5]
    """

    name = "paper_count"

    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float | None:
        gold = gold_count(row, self.name)
        if gold is None:
            return None
        return 0.5 if len(paper_boxes(before_rethink(text))) == gold else 0.0
