"""Data throughput: shapes-world samples generated per second (scene, PNG, JSONL) and TRL dataset rows built per
second (validated load + to_trl_dataset). Goal: 10,000 samples of the default size in under 30 s on one core.
Run: .venv/bin/python bench/bench_data.py [--n 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from grit.data import load_samples
from grit.data.shapes.world import write_shapes
from grit.data.trl import to_trl_dataset

GOAL_SECONDS = 30.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        paths = write_shapes(Path(tmp) / "w", n=n, seed=0)
        generate = time.perf_counter() - start
        start = time.perf_counter()
        samples = [s for p in paths.values() for s in load_samples(p)]
        load = time.perf_counter() - start
        start = time.perf_counter()
        ds = to_trl_dataset(samples)
        build = time.perf_counter() - start
        assert len(ds) == n
    print(f"shapes world, {n} samples of 112 px")
    print(f"{'stage':<34}{'seconds':>9}{'per second':>12}")
    print(f"{'generate (scenes, PNG, JSONL)':<34}{generate:>9.2f}{n / generate:>12,.0f}")
    print(f"{'load + validate (images checked)':<34}{load:>9.2f}{n / load:>12,.0f}")
    print(f"{'to_trl_dataset':<34}{build:>9.2f}{n / build:>12,.0f}")
    total = generate + load + build
    print(
        f"total {total:.2f} s; goal {GOAL_SECONDS:.0f} s for generation: generation uses "
        f"{generate / GOAL_SECONDS:.2f} of it ({GOAL_SECONDS / generate:.1f}x headroom)"
    )


if __name__ == "__main__":
    main()
