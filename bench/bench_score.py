"""Scoring throughput: completions per second scored by a reward preset on 10,000 generated chains.

Budget: scoring should cost under 1 % of a GRPO step of the tiny model (0.28 s for 8 completions, measured),
i.e. 0.35 ms per completion, so well over 3,000 completions/s on one core. Prints each preset's figure and its
ratio to that budget. Then one long chain at 100 and at 10,000 keyed boxes: parsing time per box at 10,000 over
that at 100 should stay near 1 (linear; before the spans claimed by box scanners were indexed it was 24, and a
1 MB completion took 33 s to score). Run: .venv/bin/python bench/bench_score.py [--n 10000]
"""

from __future__ import annotations

import argparse
import random
import time

from grit.boxes import FrameSpec
from grit.chain import _parse, render
from grit.rewards import RewardSettings, build_rewards

BUDGET_PER_SECOND = 3000.0


def make_chains(n: int, seed: int = 0) -> tuple[list[str], dict[str, list]]:
    rng = random.Random(seed)
    texts, rows = [], []
    for i in range(n):
        k = rng.randint(0, 5)
        boxes = []
        for _ in range(k):
            x, y = rng.randint(0, 90), rng.randint(0, 90)
            boxes.append(
                ((x, y, x + rng.randint(4, 30), y + rng.randint(4, 30)), rng.choice(["red circle", "blue square"]))
            )
        answer = str(rng.randint(0, 5)) if i % 2 else rng.choice(["yes", "no"])
        think = ["Looking at the shapes", *boxes, f"I found {k} of them."]
        text = render(
            think, f"Based on the boxes the answer is {answer}.", answer, rng.choice(["json", "list", "tuple"])
        )
        if i % 7 == 0:
            text = text[: rng.randint(0, len(text))]  # truncated
        texts.append(text + f" ({i})" if i % 11 == 0 else text)
        rows.append(
            {
                "answer": str(rng.randint(0, 5)) if i % 2 else "yes",
                "answer_type": "count" if i % 2 else "yesno",
                "question": "How many red circles are there?",
                "width": 112,
                "height": 112,
                "dataset": "shapes",
                "evidence_boxes": [[10, 10, 40, 40]],
            }
        )
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    return texts, columns


def rate(preset: str, texts: list[str], columns: dict, batch: int = 64) -> float:
    funcs, _ = build_rewards(preset, RewardSettings(frame=FrameSpec("resized", max_pixels=112 * 112)))
    _parse.cache_clear()
    start = time.perf_counter()
    for lo in range(0, len(texts), batch):
        part = {k: v[lo : lo + batch] for k, v in columns.items()}
        for f in funcs:
            f(texts[lo : lo + batch], **part)
    return len(texts) / (time.perf_counter() - start)


def per_box(n_boxes: int) -> float:
    """Seconds per box to parse one chain of ``n_boxes`` keyed boxes with labels (best of three)."""
    unit = '{"bbox_2d": [10, 20, 30, 40], "label": "red circle"} is left of it. '
    text = f"<think> {unit * n_boxes}</think> <rethink> ok </rethink> <answer> yes </answer>"
    best = float("inf")
    for _ in range(3):
        _parse.cache_clear()
        start = time.perf_counter()
        assert len(_parse(text).boxes) == n_boxes
        best = min(best, time.perf_counter() - start)
    return best / n_boxes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    n = parser.parse_args().n
    texts, columns = make_chains(n)
    print(f"scoring {n} generated chains, batches of 64 as in a GRPO step, every term of the preset")
    print(f"{'preset':<12}{'completions/s':>15}{'x budget (3000/s)':>20}")
    for preset in ("grit", "paper", "reference"):
        r = rate(preset, texts, columns)
        print(f"{preset:<12}{r:>15,.0f}{r / BUDGET_PER_SECOND:>20.2f}")
    small, large = per_box(100), per_box(10_000)
    print(f"one chain, keyed boxes: {small * 1e6:.0f} us per box at 100, {large * 1e6:.0f} us at 10,000")
    print(f"ratio (10,000 / 100, near 1 when linear): {large / small:.2f}")


if __name__ == "__main__":
    main()
