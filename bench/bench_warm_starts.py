"""The quickstart's souped warm start made in turn in one process on two threads (the baseline) and side by side,
each warm start (its chains, then its SFT steps) in a process of its own on one thread (the quickstart's way where it
has more than one thread): the two times one after the other on the same machine, their ratio, and whether the souped
weights are the same.

Generation gains little from a second thread and an SFT step 1.44x (``bench/bench_warmstart.py --threads 1`` against
``--threads 2``), so processes side by side use two cores better than one process does. Default: the quickstart's
world for ``--seed``, three warm starts of 300 unlabeled questions and 50 steps (about 5 min for both ways);
``--examples 1000 --steps 200`` is the quickstart's (150 until f2ac98e, when the README's figures of this benchmark
were measured). Run: .venv/bin/python bench/bench_warm_starts.py [--examples 1000] [--steps 200] [--sets 3] [--seed 0]
    [--data own|pooled|shared]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    from grit.quickstart import SOUP_DATA

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=300, help="unlabeled questions a set (the quickstart: 1000)")
    parser.add_argument("--steps", type=int, default=50, help="SFT steps a warm start (the quickstart: 200)")
    parser.add_argument("--sets", type=int, default=3, help="warm starts (the quickstart's warm_soup: 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data", choices=SOUP_DATA, help="what each warm start trains on (warm_soup_data; default: the quickstart's)"
    )
    a = parser.parse_args()
    import torch

    from grit.cli.common import quiet_transformers
    from grit.data import load_samples
    from grit.data.shapes.world import write_shapes
    from grit.models.loading import load_policy
    from grit.progress import Stage, silence_bars
    from grit.quickstart import QuickstartConfig, shipped_base
    from grit.quickstart_warm import warm_starts

    quiet_transformers()
    silence_bars()
    data = {"warm_soup_data": a.data} if a.data else {}
    cfg = QuickstartConfig(seed=a.seed, warm_examples=a.examples, warm_soup=a.sets, warm_steps=a.steps, **data)
    seconds, weights, lines = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        write_shapes(Path(tmp) / "data", n=cfg.n_data(), seed=a.seed, cfg=cfg.world())
        parts = cfg.warm_parts(load_samples(Path(tmp) / "data" / "train.jsonl"))  # as the quickstart draws them
        torch.set_num_threads(2)
        for apart in (False, True):
            policy, lines[apart] = load_policy(shipped_base()), []
            started = time.perf_counter()
            warm_starts(policy, shipped_base(), parts, cfg, Stage(3, 5, "warm start", "", lines[apart].append), apart)
            seconds[apart] = time.perf_counter() - started
            weights[apart] = policy.model.state_dict()
    same = all(torch.equal(weights[True][k], weights[False][k]) for k in weights[False])
    kept = "; ".join(line.split(":")[0] for line in lines[True] if "chains kept" in line)
    what = f"{a.examples} questions a set, {cfg.warm_soup_data}"
    print(f"{a.sets} warm starts of {a.steps} steps ({what}; seed {a.seed}; {kept})")
    print(f"{'in turn, one process, 2 threads (baseline)':<48}{seconds[False]:>8.1f} s")
    print(f"{'side by side, a process each, 1 thread each':<48}{seconds[True]:>8.1f} s")
    ratio = seconds[True] / seconds[False]
    print(f"side by side / in turn: {ratio:.2f} wall; the same weights: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
