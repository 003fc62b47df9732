"""grit's default rewards: the paper's terms, made hard to hack and decided per sample.

Changes from the paper (GRIT, section 3.2), each against a failure seen or reported:
- format credit only for the whole chain and nothing else (see :attr:`grit.chain.Chain.strict`): a weak
  policy learned a constant string that earns the paper's format reward (the project's first prototypes);
- box credit only for well-formed boxes inside the one ``<think>`` block that lie in the image and are neither
  degenerate nor whole-image (VLM-R1 #44: policies box the whole image);
- the counting bonus is decided by each sample's answer type, not the batch's first sample;
- the answer is read only from a single closed ``<answer>`` block; BLEU never sees ``</answer>``;
- repetition is a penalty (0 for clean text) rather than a bonus every short answer gets.
"""

from __future__ import annotations

from typing import Any

from grit.boxes import WHOLE_IMAGE_THRESHOLD
from grit.chain import Chain
from grit.grounding import grounding_scores
from grit.rewards.base import BoxReward, Reward, alnum_words, bleu1, column, gold_count, repeated_fraction


class StrictFormatReward(Reward):
    """1.0 for a complete chain: ``<think>..</think> <rethink>..</rethink> <answer>..</answer>``, one block of
    each, in order, closed, nothing outside them, a non-empty answer; else 0.

    >>> StrictFormatReward()(["<think> a </think> <rethink> b </rethink> <answer> 1 </answer>", "<think> a"])
    [1.0, 0.0]
    """

    name = "format"

    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float:
        return 1.0 if chain.strict else 0.0


def _single_think(chain: Chain) -> bool:
    t = chain.think
    return t.closed and t.opens == 1 and t.closes == 1


class GroundedBoxesReward(BoxReward):
    """0.5 when the single closed ``<think>`` block holds 1..``max_boxes`` boxes, all valid (well-formed, in the
    image, not degenerate, not whole-image, in the model's frame); else 0.

    >>> GroundedBoxesReward()(["<think> [10, 10, 40, 40] </think>", "<think> [0, 0, 112, 112] </think>"],
    ...                       width=[112, 112], height=[112, 112])
    [0.5, 0.0]
    """

    name = "grounded_boxes"

    def __init__(self, frame=None, whole_image_threshold: float = WHOLE_IMAGE_THRESHOLD, max_boxes: int = 16):
        super().__init__(frame, whole_image_threshold)
        self.max_boxes = max_boxes

    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float:
        if not _single_think(chain):
            return 0.0
        placed = self.think_boxes(chain, row)
        ok = 1 <= len(placed) <= self.max_boxes and all(p.valid for p in placed)
        return 0.5 if ok else 0.0


class CountReward(BoxReward):
    """0.5 when the number of valid boxes in ``<think>`` equals the gold count; None for non-counting samples
    (answer type other than ``count``) and for gold answers that are not whole numbers.

    >>> CountReward()(["<think> [1, 1, 9, 9] [20, 20, 30, 30] </think>"], answer=["2"], answer_type=["count"],
    ...               width=[112], height=[112])
    [0.5]
    """

    name = "count"

    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float | None:
        gold = gold_count(row, self.name)
        if gold is None:
            return None
        if not _single_think(chain):
            return 0.0
        valid = [p for p in self.think_boxes(chain, row) if p.valid]
        return 0.5 if len(valid) == gold else 0.0


class AnswerBleuReward(Reward):
    """0.1 x BLEU-1 of the answer (inside ``<answer>``, without ``</answer>``) against the gold answer.

    >>> AnswerBleuReward()(["<answer> 5 </answer>"], answer=["5"])
    [0.1]
    """

    name = "answer_bleu"

    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float:
        if chain.answer_text is None:
            return 0.0
        gold = str(column(row, "answer", "gt_answer", reward=self.name))
        return 0.1 * bleu1(alnum_words(chain.answer_text), alnum_words(gold))


class RepetitionPenalty(Reward):
    """-0.5 x the share of 8-word windows immediately repeated; 0 for text without repetition.

    >>> RepetitionPenalty()(["a b c d e f g h " * 3, "a short answer"])  # 9 of 17 windows repeat
    [-0.2647058823529412, 0.0]
    """

    name = "repetition"

    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float:
        fraction = repeated_fraction(text.split(), 8)
        return -0.5 * fraction if fraction else 0.0


class GroundingReward(BoxReward):
    """The paper's grounding IoU of the valid ``<think>`` boxes against the sample's evidence boxes (original
    pixels); None for samples without evidence. Off by default: GRIT needs no box labels.

    >>> GroundingReward(frame=None)(["<think> [0, 0, 56, 112] </think>"], width=[112], height=[112],
    ...     evidence_boxes=[[[0, 0, 56, 112]]])
    [1.0]
    """

    name = "grounding"

    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float | None:
        evidence = column(row, "evidence_boxes", "bboxs", required=False) or []
        predicted = [p.original for p in self.think_boxes(chain, row) if p.valid] if _single_think(chain) else []
        scores = grounding_scores(predicted, evidence)
        return None if scores is None else scores.union_iou
