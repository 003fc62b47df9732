"""The quickstart's warm-start chain sets, built in turn in one process on two threads (the baseline) and side by
side, each set in a process of its own on one thread (the quickstart's way where it has more than one thread): the
two times one after the other on the same machine, their ratio, and whether the chains are the same.

Generation gains little from a second thread (``bench/bench_warmstart.py --threads 1`` against ``--threads 2``), so
processes side by side use two cores better than one process does. Default: the quickstart's world for ``--seed``,
three sets of 300 unlabeled questions (about 2 min); ``--examples 1000`` is the quickstart's (about 5 min).
Run: .venv/bin/python bench/bench_chain_sets.py [--examples 1000] [--sets 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=300, help="unlabeled questions a set (the quickstart: 1000)")
    parser.add_argument("--sets", type=int, default=3, help="chain sets (the quickstart's warm_soup: 3)")
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    import torch

    from grit.cli.common import quiet_transformers
    from grit.data import load_samples
    from grit.data.shapes.world import write_shapes
    from grit.models.loading import load_policy
    from grit.progress import Stage, silence_bars
    from grit.quickstart import QuickstartConfig, _chain_sets, _warm_chains, shipped_base

    quiet_transformers()
    silence_bars()
    cfg = QuickstartConfig(seed=a.seed, warm_examples=a.examples, warm_soup=a.sets)
    with tempfile.TemporaryDirectory() as tmp:
        write_shapes(Path(tmp) / "data", n=cfg.n_data(), seed=a.seed, cfg=cfg.world())
        parts = cfg.warm_parts(load_samples(Path(tmp) / "data" / "train.jsonl"))  # as the quickstart draws them
        policy = load_policy(shipped_base())
        torch.set_num_threads(2)
        started = time.perf_counter()
        in_turn = [_warm_chains(policy, part, cfg, i, None) for i, part in enumerate(parts)]
        turn_s = time.perf_counter() - started
        started = time.perf_counter()
        apart = _chain_sets(policy, shipped_base(), parts, cfg, Stage(3, 5, "warm start", "", lambda *_: None))
        apart_s = time.perf_counter() - started
    same = [[c.chain for c in s] for s in in_turn] == [[c.chain for c in s] for s in apart]
    kept = ", ".join(str(len(s)) for s in apart)
    print(f"{a.sets} chain sets of {a.examples} questions (seed {a.seed}; kept {kept}), the shipped base")
    print(f"{'in turn, one process, 2 threads (baseline)':<48}{turn_s:>8.1f} s")
    print(f"{'side by side, a process a set, 1 thread each':<48}{apart_s:>8.1f} s")
    print(f"side by side / in turn: {apart_s / turn_s:.2f} wall; the same chains: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
