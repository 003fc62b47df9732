"""torch threads for the tiny model: one GRPO-GR step's work (sampling 2 prompts x 8 chains, then forward + backward
+ AdamW of those 16 sequences) with 1 thread and with N, alternately in one process. With a second thread each op
waits at a barrier for the slower thread, so the answer depends on what else the machine runs: the load average is
printed before and after (recipes/shapes_tiny_cpu.yaml sets threads from these figures).
Run: .venv/bin/python bench/bench_threads.py [--model runs/warm] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from transformers.utils import logging as hf_logging


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="model folder (default: the shipped tiny base)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="the N compared with 1")
    parser.add_argument("--new-tokens", type=int, default=100, help="tokens sampled per chain (a batch's longest)")
    a = parser.parse_args()
    import torch

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    from grit.data import load_samples
    from grit.data.images import load_image
    from grit.data.shapes.world import write_shapes
    from grit.models.generation import prompt_texts
    from grit.models.loading import load_policy
    from grit.quickstart import shipped_base

    policy = load_policy(a.model or shipped_base())

    with tempfile.TemporaryDirectory() as tmp:
        write_shapes(Path(tmp) / "w", n=200, seed=0)
        samples = load_samples(Path(tmp) / "w" / "train.jsonl")[:2]
        images = [load_image(s.image_path) for s in samples for _ in range(8)]
    texts = [t for t in prompt_texts(policy, [s.question for s in samples], "grounded") for _ in range(8)]
    inputs = policy.processor(text=texts, images=images, padding=True, return_tensors="pt")
    model, new = policy.model, a.new_tokens
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.0)

    def generation():
        with torch.no_grad():
            return model.generate(**inputs, do_sample=True, max_new_tokens=new, min_new_tokens=new)

    sequences = generation()
    batch = {**inputs, "input_ids": sequences, "attention_mask": torch.ones_like(sequences)}
    batch["mm_token_type_ids"] = torch.nn.functional.pad(inputs["mm_token_type_ids"], (0, new))

    def train_step():
        model(**batch, labels=sequences).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    load = os.getloadavg()[0]
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(a.rounds):
        for threads in (1, a.threads):
            torch.set_num_threads(threads)
            for name, work in ((f"generate 16 x {new} tokens", generation), ("forward+backward+AdamW", train_step)):
                start = time.perf_counter()
                work()
                times.setdefault((name, threads), []).append(time.perf_counter() - start)
    print(
        f"torch threads 1 vs {a.threads}, {a.rounds} rounds alternating, 16 sequences of {sequences.shape[1]} tokens; "
        f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} cores)"
    )
    for name in dict.fromkeys(n for n, _ in times):
        one, many = (statistics.median(times[name, t]) for t in (1, a.threads))
        print(f"  {name:<28} 1 thread {one:7.3f} s   {a.threads} threads {many:7.3f} s   ratio {many / one:6.2f}")


if __name__ == "__main__":
    main()
