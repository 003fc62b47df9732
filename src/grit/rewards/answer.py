"""Answer-correctness rewards: the rule-based verifier by default, an LLM judge when one is configured.

All three presets share this class; they differ in how the prediction is cut from the completion and
whether the judge's score is binarised. A judge failure is ``None`` (TRL leaves it out of the sum and the
mean) and is counted in ``failures``; it is never a silent 0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from grit.answers import verify
from grit.chain import Chain, parse
from grit.rewards.base import Reward, column, completion_text

logger = logging.getLogger(__name__)


class AnswerReward(Reward):
    """1.0 for a correct answer, 0.0 for a wrong or missing one.

    ``cut``: ``"strict"`` reads the answer only from a single, closed ``<answer>`` block (grit);
    ``"paper"`` reads from the first ``<answer>`` to the next ``</answer>`` or the end. ``binarize``
    turns a judge's score s into 1.0 if s > 0 (the reference trainer's rule). ``skip_datasets``: samples
    whose ``dataset`` contains one of these substrings score 0 (the reference skips OVD items).

    >>> AnswerReward()(["<think> </think> <rethink> </rethink> <answer> 3 </answer>"], answer=["three"],
    ...                answer_type=["count"])
    [1.0]
    """

    name = "answer_accuracy"

    def __init__(
        self,
        judge=None,
        cut: str = "strict",
        binarize: bool = False,
        skip_datasets: Sequence[str] = (),
        name: str | None = None,
    ):
        if cut not in ("strict", "paper"):
            raise ValueError(f"cut must be 'strict' or 'paper', got {cut!r}")
        if name:
            self.name = name
        super().__init__()
        self.judge, self.cut, self.binarize, self.skip_datasets = judge, cut, binarize, tuple(skip_datasets)
        self.failures = 0

    def prediction(self, chain: Chain) -> str | None:
        if self.cut == "paper":  # literal, as the paper and the reference: the first "<answer>" (exact tag), wherever
            start = chain.text.find("<answer>")
            if start < 0:
                return None
            rest = chain.text[start + len("<answer>") :]
            end = rest.find("</answer>")
            return (rest if end < 0 else rest[:end]).strip()
        a = chain.answer
        return chain.answer_text if a.closed and a.opens == 1 and a.closes == 1 else None

    def score(self, text: str, chain: Chain, row: dict[str, Any]) -> float | None:
        return self([text], **{k: [v] for k, v in row.items()})[0]

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        rows = self.rows(completions, kwargs)
        out: list[float | None] = [0.0] * len(rows)
        pending = []
        for i, (completion, row) in enumerate(zip(completions, rows)):
            dataset = str(row.get("dataset") or "")
            if any(s in dataset for s in self.skip_datasets):
                continue
            pred = self.prediction(parse(completion_text(completion)))
            if pred is None:
                continue
            gold = str(column(row, "answer", "gt_answer", reward=self.name))
            if self.judge is None:
                out[i] = float(verify(pred, gold, row.get("answer_type"), str(row.get("question") or "")))
            else:
                pending.append((i, (str(column(row, "question", reward=self.name)), gold, pred)))
        if pending:
            results = self.judge.score_many([triple for _, triple in pending])
            failed = []
            for (i, _), result in zip(pending, results):
                if result.score is None:
                    failed.append((i, result.error))
                    out[i] = None
                else:
                    out[i] = (1.0 if result.score > 0 else 0.0) if self.binarize else result.score
            if failed:  # one line a batch, not one a sample
                self.failures += len(failed)
                logger.warning(
                    "judge failed on %d of %d samples (first: sample %d, %s); their reward left out, not scored 0",
                    len(failed),
                    len(pending),
                    *failed[0],
                )
        return out
