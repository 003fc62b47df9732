"""Evaluation throughput: samples per second of `evaluate` for the tiny model at batch 1 vs batch 32, same samples,
same process (goal: batching gives >= 5x). Run: .venv/bin/python bench/bench_eval.py [--n 256] [--size tiny]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from transformers.utils import logging as hf_logging

from grit.data import load_samples
from grit.data.shapes.world import write_shapes
from grit.evaluate import EvalSettings, evaluate
from grit.models.loading import load_policy
from grit.models.tiny import TinySpec, save_tiny


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--model", default=None, help="a model folder (default: a fresh tiny model)")
    args = parser.parse_args()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or save_tiny(Path(tmp) / "m", TinySpec(size=args.size))
        write_shapes(Path(tmp) / "w", n=args.n * 10, seed=0)
        samples = load_samples(Path(tmp) / "w" / "train.jsonl")[: args.n]
        policy = load_policy(model_dir)
        print(
            f"evaluate {len(samples)} shapes samples, grounded prompt, {args.max_new_tokens} new tokens max, "
            f"model {args.model or args.size}"
        )
        rates = {}
        for batch in (1, 32):
            start = time.perf_counter()
            evaluate(policy, {"d": samples}, EvalSettings(batch_size=batch, max_new_tokens=args.max_new_tokens))
            rates[batch] = len(samples) / (time.perf_counter() - start)
            print(f"batch {batch:>3}: {rates[batch]:8.1f} samples/s")
        print(f"batching speed-up: {rates[32] / rates[1]:.1f}x (goal >= 5x)")


if __name__ == "__main__":
    main()
