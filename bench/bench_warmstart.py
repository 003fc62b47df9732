"""Warm-start cost (:mod:`grit.warmstart`, the quickstart's stage 3) and where it goes, on the shipped base.

- Self-chains (the base lists or grounds the objects each question names, then answers it): the processor (chat
  template, image resize/normalise, tokens), ``model.generate`` (the compute), and the rest (grouping, decoding,
  parsing); the generation batches, and the share of decoded rows that is padding (a batch decodes until its longest
  row).
- SFT steps: collate (chat template, image processing, tokens, labels; redone every step), the frozen vision
  tower's forward (its output never changes), the rest of the forward, backward, and clipping + AdamW. The step's
  compute estimate is the forward, backward and optimizer of the same batch, so step / estimate shows the overhead.
  The same steps (same examples, learning rate 0) run twice side by side: as one padded batch (``--parts 1``, the
  baseline) and in ``--parts`` length-sorted micro-batches (the quickstart's), with the ratio of the two.

With ``--save DIR`` it then finishes a small warm start (``--warm-steps``) and saves the model: a warm-started model
writing the quickstart's chains (its layout and filter), which ``bench/bench_train.py --model DIR`` needs.
Run: .venv/bin/python bench/bench_warmstart.py [--examples 128] [--steps 10] [--parts 4] [--threads N]
[--save runs/warm]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

from transformers.utils import logging as hf_logging

from clock import Clock


def instrument_generation(policy, clock: Clock, batches: list) -> None:
    """Time ``model.generate`` and the processor; record each batch's rows, decoded and needed tokens."""
    generate = policy.model.generate
    pad = policy.tokenizer.pad_token_id

    def timed_generate(*args, **kwargs):
        with clock("model.generate"):
            out = generate(*args, **kwargs)
        sequences = getattr(out, "sequences", out)  # a dict of outputs where scores are asked for
        new = sequences[:, kwargs["input_ids"].shape[1] :]
        needed = int((new != pad).sum())  # the rows' own tokens (after its end, a row holds padding)
        batches.append((new.shape[0], new.shape[1], needed))
        return out

    policy.model.generate = timed_generate
    clock.wrap(type(policy.processor), "__call__", "processor")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default=None, help="base model folder (default: the shipped tiny base)")
    parser.add_argument("--examples", type=int, default=128, help="unlabeled questions (the quickstart: 1000)")
    parser.add_argument("--steps", type=int, default=10, help="SFT steps timed (the quickstart runs 200)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--parts", type=int, default=4, help="SFT micro-batches a step (the quickstart: 4)")
    parser.add_argument("--save", default=None, help="finish a warm start and save the model here")
    parser.add_argument("--warm-steps", type=int, default=100, help="SFT steps of the saved warm start")
    a = parser.parse_args()
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import grit.warmstart as warmstart
    from grit.data import load_samples
    from grit.data.images import load_image
    from grit.data.shapes.world import write_shapes
    from grit.models.loading import load_policy
    from grit.quickstart import shipped_base

    base = a.base or shipped_base()
    policy = load_policy(base)
    clock, batches = Clock(), []
    with tempfile.TemporaryDirectory() as tmp:
        write_shapes(Path(tmp) / "w", n=max(400, 2 * a.examples), seed=0)
        pool = load_samples(Path(tmp) / "w" / "train.jsonl")
        unlabeled = random.Random(0).sample(pool, min(a.examples, len(pool)))
        images = [load_image(s.image_path) for s in unlabeled]
        instrument_generation(policy, clock, batches)
        mark = clock.mark()
        with clock("other (grouping, decoding, parsing)"):
            chains = quickstart_chains(policy, images, [s.question for s in unlabeled])
        chains_time = clock.since(mark)

        clock.wrap(warmstart, "collate", "collate (template, images, tokens)")
        clock.wrap(warmstart, "clip_and_step", "clip + AdamW")
        clock.wrap(torch.Tensor, "backward", "backward")
        clock.hook(policy.model, "forward (language model, loss)")
        clock.hook(policy.model.model.visual, "forward (vision tower, frozen)")
        sft_times = {}
        for parts in (1, a.parts):
            mark = clock.mark()
            with clock("other"):
                warmstart.warm_start(policy, chains, steps=a.steps, lr=0.0, parts=parts, log=lambda *_: None)
            sft_times[parts] = clock.since(mark)
        lengths = [len(policy.tokenizer(c.chain)["input_ids"]) for c in chains]

    print(f"warm start, base {base}, {len(chains)} questions, torch threads {torch.get_num_threads()}")
    rows = sum(r for r, _, _ in batches)
    padding = 1 - sum(n for _, _, n in batches) / sum(r * t for r, t, _ in batches)
    wall, cpu = chains_time[:2]
    print(
        f"\nself-chains: {wall:.2f} s wall, {cpu:.2f} s CPU ({cpu / len(chains):.3f} s CPU a question); "
        f"{len(batches)} generate calls of {rows / len(batches):.1f} rows; padding {100 * padding:.0f} % of decoded "
        "rows"
    )
    report(chains_time)
    for parts, sft_time in sft_times.items():
        wall, cpu, _, parts_cpu = sft_time
        estimate = sum(v for k, v in parts_cpu.items() if k.startswith(("forward", "backward", "clip"))) / a.steps
        print(
            f"\nSFT in {parts} micro-batch{'es' if parts > 1 else ''}: a step {wall / a.steps:.3f} s wall, "
            f"{cpu / a.steps:.3f} s CPU (batch 16, chains {sum(lengths) / len(lengths):.1f} tokens); compute "
            f"estimate (forward + backward + AdamW) {estimate:.3f} s CPU; step / estimate "
            f"{cpu / a.steps / estimate:.2f} CPU"
        )
        report(sft_time, a.steps)
    base_wall, base_cpu = sft_times[1][:2]
    new_wall, new_cpu = sft_times[a.parts][:2]
    print(
        f"\nSFT step, {a.parts} micro-batches / one padded batch: {new_wall / base_wall:.2f} wall, "
        f"{new_cpu / base_cpu:.2f} CPU (same examples, same run)"
    )
    if a.save:
        save_warm(policy, chains, Path(a.save), a.warm_steps)


def save_warm(policy, chains, out: Path, steps: int) -> Path:
    """Finish a warm start on ``chains`` (the quickstart's learning rate) and save the model to ``out``."""
    from grit.warmstart import warm_start

    warm_start(policy, chains, steps=steps, lr=3e-4, seed=0)
    policy.model.save_pretrained(out)
    policy.processor.save_pretrained(out)
    print(f"saved a warm start ({steps} steps on {len(chains)} chains) to {out}")
    return out


def make_warm(out: Path, examples: int = 128, steps: int = 100) -> Path:
    """A small warm start of the shipped base (about 2 CPU minutes), saved to ``out``: chains of the quickstart's
    layout and length, for bench_train.py."""
    from grit.data import load_samples
    from grit.data.images import load_image
    from grit.data.shapes.world import write_shapes
    from grit.models.loading import load_policy
    from grit.quickstart import shipped_base

    policy = load_policy(shipped_base())
    with tempfile.TemporaryDirectory() as tmp:
        write_shapes(Path(tmp) / "w", n=max(400, 2 * examples), seed=0)
        unlabeled = random.Random(0).sample(load_samples(Path(tmp) / "w" / "train.jsonl"), examples)
        images = [load_image(s.image_path) for s in unlabeled]
        chains = quickstart_chains(policy, images, [s.question for s in unlabeled])
    return save_warm(policy, chains, out, steps)


def quickstart_chains(policy, images, questions):
    """The base's own chains as the quickstart builds them (its default layout, filter and retries)."""
    from grit.quickstart import QuickstartConfig
    from grit.warmstart import self_chains

    cfg = QuickstartConfig()
    return self_chains(
        policy,
        images,
        questions,
        layout=cfg.warm_layout,
        agree=cfg.warm_agree,
        sure=cfg.warm_agree_sure,
        retries=cfg.warm_retries,
        seed=cfg.seed,
        correct=cfg.warm_correct,
        boxes_from=cfg.warm_boxes,
    )


def report(measured: tuple, per: int = 1) -> None:
    """Each part's wall and CPU seconds (per step when ``per`` > 1) and its share of the CPU time."""
    _, cpu, walls, cpus = measured
    print(f"  {'part' + (' (a step)' if per > 1 else ''):<38}{'wall s':>9}{'CPU s':>9}{'CPU share':>11}")
    for key in sorted((k for k in cpus if walls[k] > 1e-4), key=lambda k: -cpus[k]):
        print(f"  {key:<38}{walls[key] / per:>9.3f}{cpus[key] / per:>9.3f}{100 * cpus[key] / cpu:>10.1f}%")


if __name__ == "__main__":
    main()
