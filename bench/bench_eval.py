"""Evaluation throughput: samples per second of `evaluate` for the tiny model at batch 1 vs batch 32, same samples,
same process (goal: batching gives >= 5x). Run: .venv/bin/python bench/bench_eval.py [--n 256] [--size tiny]

``--split`` instead: where the quickstart's evaluation spends its time (grounded prompt, batch 32, at most the
quickstart's ``CHAIN_TOKENS`` new tokens, on a model that writes chains: ``--model runs/quickstart/warm``): the
processor, ``model.generate``, the rest (decoding, answer checks, metrics) and the outputs (predictions, metrics,
HTML report); and the ``</answer>`` stop string measured against stopping at the end token alone on the same batches.
Run: .venv/bin/python bench/bench_eval.py --split --model runs/warm [--n 400] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from transformers.utils import logging as hf_logging

from clock import Clock
from grit.data import load_samples
from grit.data.shapes.world import write_shapes
from grit.evaluate import EvalSettings, evaluate
from grit.models.loading import load_policy
from grit.models.tiny import TinySpec, save_tiny
from grit.quickstart import CHAIN_TOKENS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--model", default=None, help="a model folder (default: a fresh tiny model)")
    parser.add_argument("--split", action="store_true", help="the time split of the quickstart's evaluation")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.split:
        return split(args)
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


def split(args) -> None:
    import torch

    from grit.data.images import load_image
    from grit.evaluate import write_outputs
    from grit.models.generation import GenerationSettings, generate

    policy = load_policy(args.model)
    clock, calls = Clock(), []
    model_generate = policy.model.generate

    def timed_generate(*a, **kw):
        with clock("model.generate"):
            out = model_generate(*a, **kw)
        new = out[:, kw["input_ids"].shape[1] :]
        calls.append((new.numel(), int((new != policy.tokenizer.pad_token_id).sum())))
        return out

    policy.model.generate = timed_generate
    clock.wrap(type(policy.processor), "__call__", "processor")
    with tempfile.TemporaryDirectory() as tmp:
        write_shapes(Path(tmp) / "w", n=max(2000, args.n * 10), seed=0)
        samples = load_samples(Path(tmp) / "w" / "test.jsonl")[: args.n]
        settings = EvalSettings(prompt="grounded", batch_size=32, max_new_tokens=CHAIN_TOKENS)
        mark = clock.mark()
        with clock("other (decoding, answers, metrics)"):
            result = evaluate(policy, {"test": samples}, settings)
        with clock("outputs (predictions, metrics, report)"):
            write_outputs(result, Path(tmp) / "eval", {"model": args.model})
        wall, cpu, walls, cpus = clock.since(mark)
        print(
            f"evaluate {len(samples)} questions, grounded prompt, batch 32, <= {CHAIN_TOKENS} new tokens, "
            f"model {args.model}, "
            f"torch threads {torch.get_num_threads()}: {wall:.1f} s wall, {cpu:.1f} s CPU; {len(calls)} generate "
            f"calls, padding {100 * (1 - sum(n for _, n in calls) / sum(d for d, _ in calls)):.0f} % of decoded rows"
        )
        print(f"  {'part':<40}{'wall s':>9}{'CPU s':>9}{'CPU share':>11}")
        for key in sorted(cpus, key=lambda k: -cpus[k]):
            print(f"  {key:<40}{walls[key]:>9.3f}{cpus[key]:>9.3f}{100 * cpus[key] / cpu:>10.1f}%")
        policy.model.generate = model_generate
        chosen = samples[:64]
        images = [load_image(s.image_path) for s in chosen]
        questions = [s.question for s in chosen]
        times, texts = {True: 0.0, False: 0.0}, {}
        for _ in range(2):
            for stop in (True, False):
                start = time.process_time()
                gen = GenerationSettings(max_new_tokens=CHAIN_TOKENS, batch_size=32, stop_at_answer=stop)
                texts[stop] = generate(policy, images, questions, "grounded", gen)
                times[stop] += time.process_time() - start
        same = sum(a == b[: len(a)] for a, b in zip(texts[True], texts[False]))
        print(
            f"stop at </answer>: {times[True] / 2:.2f} s CPU for {len(chosen)} questions; at the end token alone: "
            f"{times[False] / 2:.2f} s CPU (ratio {times[True] / times[False]:.2f}); {same}/{len(chosen)} outputs "
            "the same up to the stop"
        )


if __name__ == "__main__":
    main()
