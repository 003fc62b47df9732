"""``grit pretrain``, ``grit train`` and ``grit quickstart``."""

from __future__ import annotations

import argparse
from pathlib import Path

from grit.cli import UsageError, _check_output_dir, _quiet_transformers


def _overrides(pairs: list[str], fields: dict) -> dict:
    """``--field value`` pairs after the known options, typed like the config's defaults."""
    import yaml

    out, i = {}, 0
    while i < len(pairs):
        key = pairs[i]
        if not key.startswith("--") or i + 1 >= len(pairs):
            raise UsageError(f"expected --field value pairs after the options, got {' '.join(pairs[i:])!r}")
        name = key[2:].replace("-", "_")
        if name not in fields:
            raise UsageError(f"unknown field {key}; fields: {', '.join(sorted(fields))}")
        out[name] = yaml.safe_load(pairs[i + 1])
        i += 2
    return out


def cmd_pretrain(args: argparse.Namespace, extra: list[str]) -> int:
    _quiet_transformers()
    from dataclasses import fields

    from grit.pretrain.train import PretrainConfig, Pretrainer

    overrides = _overrides(extra, {f.name: f for f in fields(PretrainConfig)})
    if args.out:
        overrides["out"] = args.out
    try:
        cfg = PretrainConfig.from_yaml(args.config, overrides) if args.config else PretrainConfig(**overrides)
        trainer = Pretrainer(cfg, resume=args.resume)
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        raise UsageError(str(e)) from e
    final = trainer.run()
    print("held-out: " + ", ".join(f"{k} {v:.3f}" for k, v in final.items() if isinstance(v, float)))
    print(f"wrote {Path(cfg.out) / 'model'}")
    return 0


def cmd_train(args: argparse.Namespace, extra: list[str]) -> int:
    _quiet_transformers()
    from grit.grpo import TrainConfigError, load_recipe, train

    config = None
    if "--config" in extra:
        i = extra.index("--config")
        config, extra = extra[i + 1], extra[:i] + extra[i + 2 :]
    try:
        grit_args, grpo_args = load_recipe(config, extra)
        result = train(grit_args, grpo_args)
    except (TrainConfigError, OSError) as e:
        raise UsageError(str(e)) from e
    print(f"trained {result['global_step']} steps; model in {result['model']}")
    return 0


def cmd_quickstart(args: argparse.Namespace, extra: list[str]) -> int:
    _quiet_transformers()
    from grit.grpo import TrainConfigError
    from grit.metrics import gain_text
    from grit.quickstart import run_quickstart

    out = Path(args.out)
    _check_output_dir(out, args.overwrite)
    try:
        summary = run_quickstart(
            out,
            args.base,
            args.seed,
            args.n_eval,
            warm_examples=args.warm_examples,
            warm_steps=args.warm_steps,
            warm_lr=args.warm_lr,
            warm_layout=args.warm_layout,
            recipe=args.recipe,
            overrides=extra,
        )
    except (FileNotFoundError, ValueError, TrainConfigError) as e:
        raise UsageError(str(e)) from e
    columns = (
        ("base direct", "base_direct_accuracy"),
        ("base grounded", "base_grounded_accuracy"),
        ("warm grounded", "warm_grounded_accuracy"),
        ("GRIT grounded", "grit_grounded_accuracy"),
        ("format", "grit_grounded_format"),
        ("IoU", "grit_grounded_union_iou"),
    )
    print(f"{'family':<12}" + "".join(f"{name:>15}" for name, _ in columns))
    for fam, r in summary["table"].items():
        print(f"{fam:<12}" + "".join(f"{'-' if r.get(key) is None else f'{r[key]:.3f}':>15}" for _, key in columns))
    print("grounded accuracy after GRPO-GR minus base direct accuracy, same questions (95 % interval):")
    for fam, g in summary["gain_over_base_direct"].items():
        print(f"  {fam:<10} {gain_text(g)}")
    for target, ok in summary["targets"].items():
        print(f"{'met' if ok else 'NOT MET'}: {target}")
    print(f"{summary['seconds']['total'] / 60:.1f} min; report: {out / 'report.html'}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("quickstart", help="the offline pipeline: shapes world, base eval, GRPO-GR on GRIT-20, report")
    p.add_argument("--out", default="runs/quickstart")
    p.add_argument("--base", default=None, help="base model folder (default: the shipped tiny base)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-eval", type=int, default=400, help="held-out test samples evaluated before and after")
    p.add_argument("--recipe", default=None, help="GRPO recipe (default: recipes/shapes_tiny_cpu.yaml)")
    p.add_argument("--warm-steps", type=int, default=150, help="label-free format warm-start SFT steps")
    p.add_argument(
        "--warm-examples", type=int, default=640, help="unlabeled train questions the warm start builds chains for"
    )
    p.add_argument("--warm-lr", type=float, default=3e-4)
    p.add_argument(
        "--warm-layout",
        default="guess_first",
        help="how the warm start lays out the base's own answer and boxes (grit.warmstart.chain_text)",
    )
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    p.set_defaults(func=cmd_quickstart, takes_extra=True)
    p = sub.add_parser(
        "train", help="GRPO-GR on TRL's GRPOTrainer: --config RECIPE.yaml [--field value ...]", add_help=False
    )
    p.set_defaults(func=cmd_train, takes_extra=True)
    p = sub.add_parser("pretrain", help="train the tiny base to ground and answer on the shapes world")
    p.add_argument("--config", default=None, help="a recipe, e.g. recipes/shapes_base.yaml")
    p.add_argument("--out", default=None, help="run folder (overrides the recipe's out)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint-last")
    p.set_defaults(func=cmd_pretrain, takes_extra=True)
