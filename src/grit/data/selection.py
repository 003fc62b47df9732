"""GRIT-20: the paper's 20 training triplets, chosen from any loaded set (paper App. B, shared/METHOD.md
section 4): 10 counting items covering counts 0-4 uniformly (TallyQA in the paper) and 10 spatial items
(VSR in the paper), here half yes and half no."""

from __future__ import annotations

import random
from typing import Sequence

from grit.answers import parse_number, parse_yes_no
from grit.data.schema import Sample


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
) -> list[Sample]:
    """Pick ``n_counting`` counting samples spread evenly over ``counts`` and ``n_spatial`` spatial samples with
    yes/no answers balanced (when they are yes/no). Deterministic in ``seed``; raises ValueError naming what
    is missing when the set cannot supply them."""
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
                raise ValueError(f"GRIT-20 needs {k} spatial samples answered {answer!r}, the data has {len(groups[answer])}")
            chosen += rng.sample(groups[answer], k)
    else:
        if len(spatial) < n_spatial:
            raise ValueError(f"GRIT-20 needs {n_spatial} spatial samples (family 'spatial' or dataset 'vsr'), "
                             f"the data has {len(spatial)}")
        chosen += rng.sample(spatial, n_spatial)
    return chosen
