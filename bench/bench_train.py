"""GRPO-GR step cost on 2 CPU cores: time per step split into generation, rewards/parsing and the rest (log-prob
forward, backward, optimizer), and the ratio of a step with grit's rewards and logging to the same TRL step with a
trivial reward (goal: <= 1.05). Both runs use learning rate 0 and the same seed, so they sample the same
completions and differ only in reward and logging work.
Run: .venv/bin/python bench/bench_train.py [--steps 12] [--model src/grit/assets/shapes-base]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from transformers.utils import logging as hf_logging


class Timed:
    """A reward callable that adds its wall time to a shared counter (TRL calls each reward once per step)."""

    def __init__(self, func, clock):
        self.func, self.clock, self.__name__ = func, clock, func.__name__

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.func(*args, **kwargs)
        finally:
            self.clock["rewards"] += time.perf_counter() - start


def trivial_reward(completions, **kwargs):
    return [float(len(str(c)) % 3) for c in completions]


def run(model: str, data: Path, out: Path, steps: int, grit: bool) -> dict:
    from trl import GRPOConfig

    from grit.grpo import GritTrainArguments, build_trainer

    args = GritTrainArguments(model=model, train_data=[str(data)], viewer_every=5 if grit else 0)
    grpo = GRPOConfig(
        output_dir=str(out),
        max_steps=steps,
        num_generations=8,
        per_device_train_batch_size=16,
        max_completion_length=64,
        learning_rate=0.0,
        beta=0.0,
        bf16=False,
        activation_checkpointing=False,
        use_cpu=True,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        seed=0,
    )
    trainer, policy, _ = build_trainer(args, grpo)
    clock = {"rewards": 0.0, "generation": 0.0}
    if grit:
        trainer.reward_funcs = [Timed(f, clock) for f in trainer.reward_funcs]
    else:
        trainer.reward_funcs = [Timed(trivial_reward, clock)]
        trainer.reward_func_names = ["trivial"]
        trainer.reward_weights = trainer.reward_weights[:1] * 0 + 1
        trainer.reward_processing_classes = [None]
    generate = policy.model.generate

    def timed_generate(*a, **k):  # instance attribute, for this benchmark only
        start = time.perf_counter()
        try:
            return generate(*a, **k)
        finally:
            clock["generation"] += time.perf_counter() - start

    policy.model.generate = timed_generate
    start = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - start
    return {"step": total / steps, "generation": clock["generation"] / steps, "rewards": clock["rewards"] / steps}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--model", default="src/grit/assets/shapes-base")
    a = parser.parse_args()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    from grit.data.shapes.world import write_shapes

    with tempfile.TemporaryDirectory() as tmp:
        write_shapes(Path(tmp) / "w", n=400, seed=0)
        data = Path(tmp) / "w" / "train.jsonl"
        trivial = run(a.model, data, Path(tmp) / "t", a.steps, grit=False)
        grit = run(a.model, data, Path(tmp) / "g", a.steps, grit=True)
    print(f"GRPO-GR step, {a.steps} steps, 2 prompts x 8 generations, <= 64 new tokens, model {a.model}")
    print(f"{'':<24}{'step s':>9}{'generation':>12}{'rewards':>10}{'other':>9}")
    for name, r in (("trivial reward", trivial), ("grit rewards + logging", grit)):
        other = r["step"] - r["generation"] - r["rewards"]
        print(f"{name:<24}{r['step']:>9.3f}{r['generation']:>12.3f}{r['rewards']:>10.4f}{other:>9.3f}")
    print(
        f"ratio grit / trivial: {grit['step'] / trivial['step']:.3f} (goal <= 1.05); rewards are "
        f"{100 * grit['rewards'] / grit['step']:.2f} % of a grit step"
    )


if __name__ == "__main__":
    main()
