"""What every reward shares: TRL's calling contract, the columns rewards read, and small text scores.

A reward is called as ``f(completions, **columns)`` and returns one float, or ``None`` where the reward does not
apply, per completion (TRL's ``GRPOTrainer`` contract). Completions are plain strings or conversational
(``[{"role": "assistant", "content": ...}]``). Columns are the dataset's, one value per completion.
"""

from __future__ import annotations

import abc
import re
from collections import Counter
from collections.abc import Sequence
from math import exp
from typing import Any

from grit.answers import parse_number
from grit.boxes import WHOLE_IMAGE_THRESHOLD, FrameSpec
from grit.chain import Chain, parse
from grit.grounding import PlacedBox, frame_for, place_boxes

_NON_ALNUM_RE = re.compile(r"[^a-zA-Z0-9]")


def completion_text(completion: Any) -> str:
    """The text of a plain or conversational completion (the last message's text parts)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)) and completion:
        content = completion[-1].get("content", "") if isinstance(completion[-1], dict) else completion[-1]
        if isinstance(content, list):
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return "" if content is None else str(content)
    return ""


def column(row: dict[str, Any], *names: str, required: bool = True, reward: str = "") -> Any:
    """The first of ``names`` present in the row; a clear error when a required column is missing."""
    for name in names:
        if name in row and row[name] is not None:
            return row[name]
    if required:
        raise KeyError(
            f"reward {reward!r} needs the dataset column {names[0]!r} (one per sample); "
            f"the batch has {sorted(row)}. Build the dataset with grit.data.to_trl_dataset or add the column."
        )
    return None


def gold_count(row: dict[str, Any], reward: str = "") -> int | None:
    """The gold count of a counting sample; None for other answer types and for gold answers that are not whole
    numbers (count rewards do not apply to them)."""
    if row.get("answer_type") != "count":
        return None
    gold = parse_number(str(column(row, "answer", "gt_answer", reward=reward)))
    return int(gold) if gold is not None and gold.is_integer() else None


class Reward(abc.ABC):
    """Base of grit's reward callables: picklable, named (TRL logs ``__name__``), per-sample ``score``."""

    name = "reward"

    def __init__(self):
        self.__name__ = self.name

    @abc.abstractmethod
    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float | None:
        """The reward of one completion (its text and parsed chain) given its dataset row."""

    def rows(self, completions: Sequence[Any], kwargs: dict[str, Any]) -> list[dict[str, Any]]:
        n = len(completions)
        per_sample = {k: v for k, v in kwargs.items() if isinstance(v, (list, tuple)) and len(v) == n}
        return [{k: v[i] for k, v in per_sample.items()} for i in range(n)]

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        out = []
        for completion, row in zip(completions, self.rows(completions, kwargs)):
            text = completion_text(completion)
            out.append(self.score(text, parse(text), row))
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class BoxReward(Reward):
    """A reward that looks at boxes in original pixels: it knows the model's coordinate frame."""

    def __init__(self, frame: FrameSpec | None = None, whole_image_threshold: float = WHOLE_IMAGE_THRESHOLD):
        super().__init__()
        self.frame = frame or FrameSpec()
        self.whole_image_threshold = whole_image_threshold

    def think_boxes(self, chain: Chain, row: dict[str, Any]) -> tuple[PlacedBox, ...]:
        width = float(column(row, "width", reward=self.name))
        height = float(column(row, "height", reward=self.name))
        frame = frame_for(self.frame, width, height)
        return place_boxes(chain, frame, "think", self.whole_image_threshold)


def alnum_words(text: str) -> list[str]:
    """Non-alphanumerics to spaces, lower-cased, split: the reference code's tokenisation for BLEU."""
    return _NON_ALNUM_RE.sub(" ", text).lower().split()


def bleu1(hypothesis: Sequence[str], reference: Sequence[str]) -> float:
    """Sentence BLEU-1 (clipped unigram precision x brevity penalty), equal to nltk's
    ``sentence_bleu([reference], hypothesis, weights=(1, 0, 0, 0))`` (tested) and 50x faster.

    >>> bleu1(["5", "answer"], ["5"])
    0.5
    """
    if not hypothesis or not reference:
        return 0.0
    ref_counts = Counter(reference)
    clipped = sum(min(c, ref_counts[w]) for w, c in Counter(hypothesis).items())
    if clipped == 0:
        return 0.0
    c, r = len(hypothesis), len(reference)
    brevity = 1.0 if c > r else exp(1 - r / c)
    return brevity * clipped / c


def repeated_fraction(seq: Sequence[Any], n: int = 8) -> float:
    """Share of positions i whose n-gram ``seq[i:i+n]`` is immediately repeated (``== seq[i+n:i+2n]``),
    over the ``len(seq) - n + 1`` positions (0 for a sequence shorter than n)."""
    positions = len(seq) - n + 1
    if positions <= 0:
        return 0.0
    seq = list(seq)
    repeats = sum(1 for i in range(positions) if seq[i : i + n] == seq[i + n : i + 2 * n])
    return repeats / positions
