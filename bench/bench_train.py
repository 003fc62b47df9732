"""GRPO-GR step cost in the quickstart's real configuration: ``recipes/shapes_tiny_cpu.yaml`` (4 prompts x 8
generations, its ``max_completion_length``, beta 0.04, its logging) on a warm-started model that writes the
quickstart's chains. Prints where a step's time goes (data, prompt/image processing, generation, reference and old
log-prob forwards, the loss forward, backward, optimizer, rewards, callbacks, logging) and the ratio of the step to
a compute estimate of the same step, measured in the same process right after each step on that step's own tensors:
plain ``model.generate`` of as many new tokens as the step generated (its longest chain: a batch decodes until its last
row stops), one forward+backward+AdamW of the step's token batch, and one reference forward when beta > 0 (goal:
step <= 1.5 x estimate). Checkpoints and rollout pages, written every ``save_steps`` / ``viewer_every`` steps, are
timed once after the run and shown per step at the recipe's interval.

Also the cost of grit's rewards and logging: the same run with one trivial reward (goal: <= 1.05); and the recipe's
log-prob passes in length-sorted chunks (``logprob_chunks``, :mod:`grit.models.unpadded`) against TRL's one padded
batch (``--logprob_chunks 1``). The runs use learning rate 0 and the same seed, so they sample the same completions
and differ only in that work; the RNG is restored around each estimate, so estimates do not change what the runs
sample. The compute estimate is of the padded batch, so with chunks a step can cost less than its estimate.

Run: .venv/bin/python bench/bench_train.py [--model DIR] [--steps 11] [--threads N]
The warm model: ``--model``, else ``runs/quickstart/warm`` when ``make quickstart`` has run, else ``runs/bench/warm``,
made on first use (a smaller warm start of the shipped base, chains of the same layout and length: about 2 CPU
minutes; ``bench/bench_warmstart.py --save DIR`` makes one too).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from transformers import TrainerCallback
from transformers.utils import logging as hf_logging

from clock import Clock

RECIPE = "recipes/shapes_tiny_cpu.yaml"


def trivial_reward(completions, **kwargs):
    return [float(len(str(c)) % 3) for c in completions]


class StepEstimates(TrainerCallback):
    """At each step's end: a mark of the clock (for per-step splits), then the compute estimate of that step."""

    def __init__(self, trainer, clock: Clock, captured: dict):
        import torch

        self.trainer, self.clock, self.captured = trainer, clock, captured
        self.marks: list[tuple] = []
        self.estimates: list[dict[str, tuple[float, float]]] = []
        self.lengths: list[tuple[float, int]] = []
        self.threads: list[int] = []
        params = [p for p in trainer.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=0.0)  # lr 0: the estimate never moves the weights

    def on_train_begin(self, args, state, control, **kwargs):
        self.marks.append(self.clock.mark())

    def on_step_end(self, args, state, control, **kwargs):
        import torch

        self.marks.append(self.clock.mark())
        self.threads.append(torch.get_num_threads())
        with self.clock("estimate"):
            self.estimates.append(self.estimate())

    def estimate(self) -> dict[str, tuple[float, float]]:
        """(wall, CPU) seconds of plain generate, forward+backward+AdamW and a reference forward of this step."""
        import torch

        gen, batch, new = self.captured["generate"], self.captured["train_batch"], self.captured["new_tokens"]
        mask, keep = batch["attention_mask"], batch["logits_to_keep"]
        self.lengths.append((mask[:, -keep:].sum(1).float().mean().item(), new))
        inputs = {k: v for k, v in batch.items() if k != "logits_to_keep"}
        labels = inputs["input_ids"].masked_fill(mask == 0, -100)
        labels[:, :-keep] = -100
        model, rng, times = self.trainer.model, torch.get_rng_state(), {}

        def generation():
            with torch.no_grad():
                generate = self.captured["plain_generate"]
                generate(**gen, do_sample=True, max_new_tokens=new, min_new_tokens=new, disable_compile=True)

        def train_step():
            model(**inputs, labels=labels).loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)

        def reference():
            if self.trainer.beta != 0.0:
                with torch.no_grad():
                    self.trainer.ref_model(**inputs)

        for name, work in (
            ("generation", generation),
            ("forward+backward+AdamW", train_step),
            ("reference", reference),
        ):
            wall, cpu = time.perf_counter(), time.process_time()
            work()
            times[name] = (time.perf_counter() - wall, time.process_time() - cpu)
        torch.set_rng_state(rng)
        return times


def instrument(trainer, policy, clock: Clock) -> dict:
    """Time each part of a TRL step; capture the step's generation inputs and token batch for its estimate."""
    import torch

    generate = policy.model.generate
    captured: dict = {"plain_generate": generate}  # the estimate's, untimed

    def timed_generate(*args, **kwargs):
        captured["generate"] = {k: v for k, v in kwargs.items() if isinstance(v, torch.Tensor)}
        with clock("generation"):
            out = generate(*args, **kwargs)
        captured["new_tokens"] = out.shape[1] - kwargs["input_ids"].shape[1]
        return out

    policy.model.generate = timed_generate
    logps = trainer._get_per_token_logps_and_entropies

    def timed_logps(model, input_ids, attention_mask, logits_to_keep, **kwargs):
        if model is trainer.ref_model:
            label = "reference forward"
        elif torch.is_grad_enabled():
            label = "loss forward"
            captured["train_batch"] = {
                "input_ids": input_ids,
                "attention_mask": attention_mask,
                "logits_to_keep": logits_to_keep,
                **{
                    k: v
                    for k, v in kwargs.items()
                    if k in ("pixel_values", "image_grid_thw", "mm_token_type_ids") and v is not None
                },
            }
        else:
            label = "old log-prob forward"
        with clock(label):
            return logps(model, input_ids, attention_mask, logits_to_keep, **kwargs)

    trainer._get_per_token_logps_and_entropies = timed_logps
    clock.wrap(trainer, "get_batch_samples", "data (image decoding)")
    clock.wrap(trainer, "_tokenize_prompts", "prompts+images for generation")
    clock.wrap(trainer, "_generate_and_score_completions", "rollout bookkeeping")
    clock.wrap(trainer, "compute_loss", "loss bookkeeping")
    clock.wrap(trainer.accelerator, "backward", "backward")
    clock.wrap(trainer, "_clip_grad_norm", "grad clipping")
    clock.wrap(trainer, "log", "logging")
    clock.wrap(trainer.callback_handler, "call_event", "callbacks")
    trainer.reward_funcs = [_timed_reward(f, clock) for f in trainer.reward_funcs]  # TRL reads __name__ at init
    create = trainer.create_optimizer

    def create_timed(*args, **kwargs):
        optimizer = create(*args, **kwargs)
        clock.wrap(optimizer, "step", "optimizer")
        return optimizer

    trainer.create_optimizer = create_timed
    return captured


def _timed_reward(func, clock: Clock):
    def timed(*args, **kwargs):
        with clock("rewards"):
            return func(*args, **kwargs)

    timed.__name__ = getattr(func, "__name__", "reward")
    return timed


def run(model: str, data: Path, out: Path, steps: int, grit: bool, recipe: str, overrides: list[str]) -> dict:
    from grit.grpo import build_trainer, trl_deprecations_hidden
    from grit.threads import set_threads
    from grit.train_config import load_recipe

    args, grpo = load_recipe(
        recipe,
        ["--model", model, "--train_data", str(data), "--output_dir", str(out), "--max_steps", str(steps)]
        + ["--learning_rate", "0", "--seed", "0", *overrides],
    )
    set_threads(args.threads)  # as grit train does
    save_steps, viewer_every = grpo.save_steps, args.viewer_every
    trainer, policy, _ = build_trainer(args, grpo)
    if not grit:
        trainer.reward_funcs = [trivial_reward]
        trainer.reward_func_names = ["trivial"]
        trainer.reward_weights = trainer.reward_weights[:1] * 0 + 1
        trainer.reward_processing_classes = [None]
    clock = Clock()
    captured = instrument(trainer, policy, clock)
    steps_cb = StepEstimates(trainer, clock, captured)
    trainer.add_callback(steps_cb)
    with trl_deprecations_hidden():
        trainer.train()
    result = split(steps_cb)
    if grit:  # the periodic work, once each, shown per step at the recipe's interval
        mark = clock.mark()
        trainer._save_checkpoint(trainer.model, None)
        result["checkpoint every"] = (save_steps, clock.since(mark)[:2])
        viewer = next((c for c in trainer.callback_handler.callbacks if type(c).__name__ == "RolloutViewer"), None)
        if viewer is not None:
            mark = clock.mark()
            viewer.write(out, steps)
            result["rollout page every"] = (viewer_every, clock.since(mark)[:2])
    return result


def split(cb: StepEstimates) -> dict:
    """Means per step over steps 2..N (the first holds one-time set-up), wall and CPU: the step less its estimate,
    its parts, and the estimate's parts."""
    marks = cb.marks[1:]  # from the end of step 1
    n = len(marks) - 1
    parts: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    step = [0.0, 0.0]
    for mark, later in zip(marks, marks[1:]):
        from_wall, from_cpu, from_totals, from_cpu_totals = mark
        wall, cpu, totals, cpu_totals = later
        step[0] += (wall - from_wall) / n
        step[1] += (cpu - from_cpu) / n
        for k in totals:
            parts[k][0] += (totals[k] - from_totals.get(k, 0.0)) / n
            parts[k][1] += (cpu_totals[k] - from_cpu_totals.get(k, 0.0)) / n
    estimate_in_step = parts.pop("estimate", [0.0, 0.0])
    step = [step[0] - estimate_in_step[0], step[1] - estimate_in_step[1]]
    estimate = {k: [sum(e[k][i] for e in cb.estimates[1:]) / n for i in (0, 1)] for k in cb.estimates[0]}
    lengths = cb.lengths[1:]
    return {
        "step": step,
        "parts": dict(parts),
        "estimate": estimate,
        "mean_length": sum(m for m, _ in lengths) / n,
        "new_tokens": sum(t for _, t in lengths) / n,
        "threads": {t: cb.threads[1:].count(t) for t in sorted(set(cb.threads[1:]))},
    }


def total(parts: dict[str, list[float]]) -> list[float]:
    return [sum(v[i] for v in parts.values()) for i in (0, 1)]


ORDER = (
    "data (image decoding)",
    "prompts+images for generation",
    "generation",
    "rollout bookkeeping",
    "old log-prob forward",
    "reference forward",
    "rewards",
    "loss forward",
    "loss bookkeeping",
    "backward",
    "grad clipping",
    "optimizer",
    "callbacks",
    "logging",
)


def report(name: str, r: dict) -> None:
    (wall, cpu), (est_wall, est_cpu) = r["step"], total(r["estimate"])
    print(
        f"\n{name}: a step {wall:.3f} s wall, {cpu:.3f} s CPU; compute estimate {est_wall:.3f} s wall, "
        f"{est_cpu:.3f} s CPU; step / estimate {wall / est_wall:.2f} wall, {cpu / est_cpu:.2f} CPU"
    )
    print(
        f"  chains: mean {r['mean_length']:.1f} tokens; the batch decoded {r['new_tokens']:.1f} tokens (its longest); "
        f"torch threads {', '.join(f'{t} in {n} steps' for t, n in r['threads'].items())}"
    )
    print(f"  {'part of a step':<34}{'wall s':>9}{'CPU s':>9}{'CPU share':>11}")
    parts = dict(r["parts"])
    parts["other (trainer loop)"] = [r["step"][i] - total(r["parts"])[i] for i in (0, 1)]
    for key in [k for k in ORDER if k in parts] + [k for k in parts if k not in ORDER]:
        w, c = parts[key]
        print(f"  {key:<34}{w:>9.3f}{c:>9.3f}{100 * c / cpu:>10.1f}%")
    for key in ("checkpoint every", "rollout page every"):
        if key in r:
            every, (w, c) = r[key]
            print(
                f"  {key + f' {every} steps':<34}{w / every:>9.3f}{c / every:>9.3f}{100 * c / every / cpu:>10.1f}%"
                f"  ({w:.2f} s wall each)"
            )
    print(f"  {'compute estimate':<34}{est_wall:>9.3f}{est_cpu:>9.3f}")
    for key, (w, c) in r["estimate"].items():
        print(f"    {key:<32}{w:>9.3f}{c:>9.3f}")


def warm_model() -> str:
    """The quickstart's warm model if there is one, else the bench's own (made on first use)."""
    for path in (Path("runs/quickstart/warm"), Path("runs/bench/warm")):
        if (path / "model.safetensors").exists():
            return str(path)
    from bench_warmstart import make_warm

    print("no warm-started model yet: making runs/bench/warm (once)")
    return str(make_warm(Path("runs/bench/warm")))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="a warm-started model folder (see the module docstring)")
    parser.add_argument("--steps", type=int, default=11, help="steps per run; the first is left out of the means")
    parser.add_argument("--recipe", default=RECIPE)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: the recipe's; its 0 = the cores free now)"
    )
    parser.add_argument("--skip-trivial", action="store_true", help="no trivial-reward run")
    parser.add_argument("--skip-padded", action="store_true", help="no run with TRL's one padded batch")
    a = parser.parse_args()

    from grit.threads import AUTO, free_cores
    from grit.train_config import load_recipe

    threads = a.threads if a.threads is not None else load_recipe(a.recipe)[0].threads
    if threads == AUTO:  # resolved once, so both runs and their estimates use the same threads
        threads = free_cores()
    overrides = [] if threads is None else ["--threads", str(threads)]
    model = a.model or warm_model()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    from grit.data.shapes.world import write_shapes

    with tempfile.TemporaryDirectory() as tmp:
        write_shapes(Path(tmp) / "w", n=400, seed=0)
        data = Path(tmp) / "w" / "train.jsonl"
        grit = run(model, data, Path(tmp) / "g", a.steps, True, a.recipe, overrides)
        trivial = None if a.skip_trivial else run(model, data, Path(tmp) / "t", a.steps, False, a.recipe, overrides)
        padded = (
            None
            if a.skip_padded
            else run(model, data, Path(tmp) / "p", a.steps, True, a.recipe, overrides + ["--logprob_chunks", "1"])
        )
    print(f"GRPO-GR step, {a.recipe}, model {model}, {a.steps} steps (the first left out of the means)")
    report("grit rewards + logging", grit)
    if trivial:
        report("trivial reward", trivial)
        raw = [grit["step"][i] / trivial["step"][i] for i in (0, 1)]
        # the runs compute the same estimate (same samples): its ratio is how much the machine's load changed
        steady = [raw[i] * total(trivial["estimate"])[i] / total(grit["estimate"])[i] for i in (0, 1)]
        print(
            f"\nratio grit / trivial, each step against its own estimate: {steady[0]:.3f} wall, {steady[1]:.3f} CPU "
            f"(goal <= 1.05; as measured: {raw[0]:.3f} wall, {raw[1]:.3f} CPU); rewards are "
            f"{100 * grit['parts'].get('rewards', [0, 0])[1] / grit['step'][1]:.2f} % of a grit step's CPU"
        )
    if padded:
        ours, theirs = (run["step"][1] / total(run["estimate"])[1] for run in (grit, padded))
        report("grit, log-probs in TRL's one padded batch (logprob_chunks 1)", padded)
        print(
            f"\nratio recipe / one padded batch, same samples: step {grit['step'][0] / padded['step'][0]:.3f} wall, "
            f"{grit['step'][1] / padded['step'][1]:.3f} CPU; step / estimate "
            f"{ours:.3f} vs {theirs:.3f}"
            " CPU (the estimate is the padded batch's: this ratio is steady when the machine's speed changes)"
        )
    (wall, cpu), (est_wall, est_cpu) = grit["step"], total(grit["estimate"])
    print(f"step / compute estimate: {wall / est_wall:.2f} wall, {cpu / est_cpu:.2f} CPU (goal <= 1.5)")


if __name__ == "__main__":
    main()
