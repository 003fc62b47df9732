"""GRIT-20: the paper's 20 training triplets, chosen from any loaded set (paper App. B): 10 counting items covering
counts 0-4 uniformly (TallyQA in the paper) and 10 spatial items (VSR in the paper), here half yes and half no.

``mix="families"`` is this project's variant for data with more question families (the shapes world): 20 items
spread over every family the data has (counting over counts 0-4, answers balanced within each family), so that
GRPO-GR on 20 items does not train the chain's answer on counts and yes/no alone. ``mix="counting_half"`` keeps the
paper's share of counting (half the items, counts 0-4 evenly) and spreads the other half over the other families,
spatial first.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from grit.answers import parse_number, parse_yes_no
from grit.data.schema import Sample

MIXES = ("paper", "families", "counting_half")


def is_counting(s: Sample) -> bool:
    return s.answer_type == "count" or s.dataset == "tallyqa"


def is_spatial(s: Sample) -> bool:
    return s.extra.get("family") == "spatial" or s.dataset == "vsr"


def select_grit20(
    samples: Sequence[Sample],
    seed: int = 0,
    n_counting: int = 10,
    n_spatial: int = 10,
    counts: Sequence[int] = (0, 1, 2, 3, 4),
    mix: str = "paper",
    total: int = 20,
) -> list[Sample]:
    """Pick ``n_counting`` counting samples spread evenly over ``counts`` and ``n_spatial`` spatial samples with
    yes/no answers balanced (when they are yes/no). Deterministic in ``seed``; raises ValueError naming what
    is missing when the set cannot supply them. ``mix="families"``: ``total`` items spread over the question
    families instead (see the module doc)."""
    if mix in ("families", "counting_half"):
        return select_by_family(samples, seed, total, counts, counting_share=0.5 if mix == "counting_half" else None)
    if mix not in MIXES:
        raise ValueError(f"GRIT-20 mix {mix!r}: use 'paper' (10 counting + 10 spatial), 'families' or 'counting_half'")
    rng = random.Random(seed)
    by_count: dict[int, list[Sample]] = {c: [] for c in counts}
    for s in samples:
        value = parse_number(s.answer) if is_counting(s) else None
        if value is not None and value.is_integer() and int(value) in by_count:
            by_count[int(value)].append(s)
    chosen: list[Sample] = []
    per_count = [n_counting // len(counts) + (1 if i < n_counting % len(counts) else 0) for i in range(len(counts))]
    for c, k in zip(counts, per_count):
        if len(by_count[c]) < k:
            raise ValueError(f"GRIT-20 needs {k} counting samples with answer {c}, the data has {len(by_count[c])}")
        chosen += rng.sample(by_count[c], k)
    spatial = [s for s in samples if is_spatial(s)]
    groups: dict[str | None, list[Sample]] = {}
    for s in spatial:
        groups.setdefault(parse_yes_no(s.answer), []).append(s)
    if set(groups) <= {"yes", "no"} and len(groups) == 2:
        yes_k = n_spatial // 2
        for answer, k in (("yes", yes_k), ("no", n_spatial - yes_k)):
            if len(groups[answer]) < k:
                raise ValueError(
                    f"GRIT-20 needs {k} spatial samples answered {answer!r}, the data has {len(groups[answer])}"
                )
            chosen += rng.sample(groups[answer], k)
    else:
        if len(spatial) < n_spatial:
            raise ValueError(
                f"GRIT-20 needs {n_spatial} spatial samples (family 'spatial' or dataset 'vsr'), "
                f"the data has {len(spatial)}"
            )
        chosen += rng.sample(spatial, n_spatial)
    return chosen


def family_of(s: Sample) -> str:
    if is_counting(s):
        return "counting"
    if is_spatial(s):
        return "spatial"
    return str(s.extra.get("family") or s.answer_type)


def select_by_family(
    samples: Sequence[Sample],
    seed: int = 0,
    total: int = 20,
    counts: Sequence[int] = (0, 1, 2, 3, 4),
    counting_share: float | None = None,
) -> list[Sample]:
    """``total`` items, as even as possible over the question families present; within a family, taken round-robin
    over its distinct answers (counts restricted to ``counts``), so answers are balanced too. ``counting_share``:
    that share of ``total`` is counting, the rest as even as possible over the other families, spatial first."""
    rng = random.Random(seed)
    families: dict[str, dict[str, list[Sample]]] = {}
    for s in samples:
        family = family_of(s)
        if family == "counting":
            value = parse_number(s.answer)
            if value is None or not value.is_integer() or int(value) not in counts:
                continue
        families.setdefault(family, {}).setdefault(s.answer.strip().lower(), []).append(s)
    if not families:
        raise ValueError("GRIT-20 (families): the data has no samples")
    names = sorted(families)
    quota = _spread(names, total)
    if counting_share is not None:
        if "counting" not in families:
            raise ValueError("GRIT-20 (counting_half) needs counting samples (counts 0-4), the data has none")
        fixed = round(total * counting_share)
        others = sorted((f for f in names if f != "counting"), key=lambda f: (f != "spatial", f))
        quota = {"counting": fixed, **_spread(others, total - fixed)}
    chosen: list[Sample] = []
    for family in names:
        pools = {a: rng.sample(group, len(group)) for a, group in sorted(families[family].items())}
        available = sum(len(g) for g in pools.values())
        if available < quota[family]:
            raise ValueError(f"GRIT-20 (families) needs {quota[family]} {family} samples, the data has {available}")
        taken = 0
        while taken < quota[family]:
            for answer in sorted(pools):
                if pools[answer] and taken < quota[family]:
                    chosen.append(pools[answer].pop())
                    taken += 1
    return chosen


def _spread(names: Sequence[str], total: int) -> dict[str, int]:
    """``total`` split as evenly as possible over ``names``, the first ones taking the remainder."""
    if not names:
        return {}
    return {f: total // len(names) + (1 if i < total % len(names) else 0) for i, f in enumerate(names)}
