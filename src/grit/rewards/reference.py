"""The reference implementation's six reward terms, quirks included (the GRIT authors' released code), so that a user
can reproduce the released scoring. The answer judge term is :class:`grit.rewards.answer.AnswerReward` with
``cut="paper"``, ``binarize=True`` and OVD items skipped.

Known quirks kept on purpose: BLEU reads everything after ``<answer>`` (so ``</answer>`` becomes the word
"answer"); the counting bonus is 1.0 and keys on the batch's *first* sample's dataset; boxes are four
comma-separated integers anywhere before ``<rethink>``. One deliberate difference: a judge failure is None
and counted, where the reference scored 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from grit.chain import Chain, paper_boxes
from grit.rewards.base import Reward, alnum_words, completion_text, repeated_fraction
from grit.rewards.paper import before_rethink

_THINK_KEYS = ("<think>", "</think>", "<rethink>", "</rethink>")


class ReferenceBleu(Reward):
    """0.1 x nltk sentence BLEU-1 of everything after the first ``<answer>`` against the gold answer.

    >>> ReferenceBleu()(["<answer> 5 </answer>"], answer=["5"])
    [0.05]
    """

    name = "reference_answer_bleu"

    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float:
        if "<answer>" not in text:
            return 0.0
        from nltk.translate.bleu_score import sentence_bleu

        hypothesis = alnum_words(text.split("<answer>", 1)[1])
        reference = alnum_words(str(row.get("answer", row.get("gt_answer", ""))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nltk warns about the zero-weighted 2-4-gram precisions
            value = sentence_bleu([reference], hypothesis, weights=(1, 0, 0, 0))
        return 0.1 * float(value)


class ReferenceAnswerFormat(Reward):
    """0.5 for exactly one ``<answer>``, 0.25 for two or more, else 0.

    >>> ReferenceAnswerFormat()(["<answer> 1", "<answer> 1 <answer> 2", "1"])
    [0.5, 0.25, 0.0]
    """

    name = "reference_answer_format"

    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float:
        n = text.count("<answer>")
        return 0.5 if n == 1 else 0.25 if n >= 2 else 0.0


class ReferenceRepetition(Reward):
    """(t - (1 - w)) x 0.5 in [-0.5, 0.5], with w and t one minus the share of immediately repeated 8-grams
    over words and over completion token ids (cut at the first ``pad_token_id``). 0.5 for an empty completion,
    fewer than 8 words or fewer than 16 ids. None when the token ids are not given (``grit score`` without
    ``--tokenizer``).

    >>> ReferenceRepetition()(["a short one"], completion_ids=[[1, 2, 3]])
    [0.5]
    """

    name = "reference_repetition"

    def __init__(self, pad_token_id: int | None = None):
        super().__init__()
        self.pad_token_id = pad_token_id

    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float | None:
        words = text.split()
        if not text or len(words) < 8:
            return 0.5
        ids = row.get("completion_ids")
        if ids is None:
            return None
        ids = list(ids)
        if self.pad_token_id is not None and self.pad_token_id in ids:
            ids = ids[: ids.index(self.pad_token_id)]
        if len(ids) < 16:
            return 0.5
        w = 1.0 - repeated_fraction(words, 8)
        t = 1.0 - repeated_fraction(ids, 8)
        return (t - (1.0 - w)) * 0.5


class ReferenceBoxFormat(Reward):
    """0 without ``<rethink>``; else +0.5 for at least one box before the first ``<rethink>`` and +1.0 when the
    batch's first sample is TallyQA and the box count equals the gold count.

    >>> ReferenceBoxFormat()(["(1, 2, 3, 4) <rethink>", "(1, 2, 3, 4)"], dataset=["tallyqa"] * 2, answer=["1", "1"])
    [1.5, 0.0]
    """

    name = "reference_box_format"

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float]:
        rows = self.rows(completions, kwargs)
        first_dataset = rows[0].get("dataset") if rows else None  # the reference's dataset[0]
        out = []
        for completion, row in zip(completions, rows):
            text = completion_text(completion)
            out.append(self._one(text, row, first_dataset == "tallyqa"))
        return out

    def _one(self, text: str, row: dict[str, Any], counting_batch: bool) -> float:
        if "<rethink>" not in text:
            return 0.0
        n = len(paper_boxes(before_rethink(text)))
        value = 0.5 if n >= 1 else 0.0
        if counting_batch:
            try:
                gold = int(str(row.get("answer", row.get("gt_answer"))).strip())
            except ValueError:  # the reference would crash here; a non-integer gold simply earns no bonus
                gold = None
            if gold is not None and n == gold:
                value += 1.0
        return value

    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float:
        return self._one(text, row, row.get("dataset") == "tallyqa")


class ReferenceThinkFormat(Reward):
    """Scan ``<think>``, ``</think>``, ``<rethink>``, ``</rethink>`` in order, each found key +1 and the scan goes
    on after its last occurrence; with all four, +1 if the last think block has >= 2 words. Reward count/5 x 0.5.

    >>> ReferenceThinkFormat()(["<think> two words </think> <rethink> </rethink>", "<think>"])
    [0.5, 0.1]
    """

    name = "reference_think_format"

    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float:
        remaining, count = text, 0
        for key in _THINK_KEYS:
            if key in remaining:
                count += 1
                remaining = remaining.rsplit(key, 1)[1]
        if count == 4:
            think = text.rsplit("<think>", 1)[1].split("</think>", 1)[0].strip()
            if len(think) > 1 and len(alnum_words(think)) >= 2:
                count += 1
        return count / 5 * 0.5
