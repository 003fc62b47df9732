"""``grit quickstart``: the offline pipeline (shapes world, base evaluation, warm start, GRPO-GR on GRIT-20,
evaluation, report) with :class:`grit.quickstart.QuickstartConfig`; ``grit train`` fields given beside its own
override the GRPO-GR recipe, and are checked before any work starts."""

from __future__ import annotations

from pathlib import Path

from grit.cli.common import UsageError, check_not_empty, check_output_dir, check_writable, quiet_transformers

HELP = "the offline pipeline: shapes world, base eval, GRPO-GR on GRIT-20, report"
COLUMNS = (
    ("base direct", "base_direct_accuracy"),
    ("base grounded", "base_grounded_accuracy"),
    ("warm grounded", "warm_grounded_accuracy"),
    ("GRIT grounded", "grit_grounded_accuracy"),
    ("format", "grit_grounded_format"),
    ("IoU", "grit_grounded_union_iou"),
)


def print_summary(summary: dict, out: Path) -> None:
    from grit.metrics import gain_text

    print(f"{'family':<12}" + "".join(f"{name:>15}" for name, _ in COLUMNS))
    for fam, r in summary["table"].items():
        print(f"{fam:<12}" + "".join(f"{'-' if r.get(key) is None else f'{r[key]:.3f}':>15}" for _, key in COLUMNS))
    print("grounded accuracy after GRPO-GR minus base direct accuracy, same questions (95 % interval):")
    for fam, g in summary["gain_over_base_direct"].items():
        print(f"  {fam:<10} {gain_text(g)}")
    if summary.get("gain_over_warm_start"):
        print("GRPO-GR's own part: grounded accuracy after GRPO-GR minus after the warm start (95 % interval):")
        for fam, g in summary["gain_over_warm_start"].items():
            print(f"  {fam:<10} {gain_text(g)}")
    for target, ok in summary["targets"].items():
        print(f"{'met' if ok else 'NOT MET'}: {target}")
    print(f"{summary['seconds']['total'] / 60:.1f} min; report: {out / 'report.html'}")


def main(argv: list[str]) -> int:
    from grit.arguments import ArgumentParser
    from grit.config import ConfigError
    from grit.quickstart import QuickstartConfig, run_quickstart
    from grit.train_config import train_parser

    parser = ArgumentParser(
        [QuickstartConfig],
        prog="grit quickstart",
        usage="grit quickstart [--config FILE] [--field value ...] [--TRAIN_FIELD value ...]",
        description="The offline GRIT pipeline on the shipped tiny base. Any grit train field (see grit train "
        "--help) given here overrides the GRPO-GR recipe, e.g. grit quickstart --max_steps 100.",
    )
    cfg, train_overrides = parser.parse(argv, allow_remaining=True)
    train_flags = train_parser().flags()
    unknown = [
        a
        for a in train_overrides
        if a.startswith("-") and a.partition("=")[0] not in train_flags and not _is_number(a)  # --top_k -4: a value
    ]
    if unknown:  # neither a quickstart nor a training field
        raise ConfigError(parser.unknown_message(unknown, train_flags))
    check_not_empty(cfg.out)
    out = Path(cfg.out)
    if cfg.seeds is None:  # --seeds resumes in a folder of its own runs (grit.seeds.run_seeds checks it)
        check_output_dir(out, cfg.overwrite)
    check_writable(out)
    quiet_transformers()
    from grit.models.loading import ModelLoadError, check_model_folder
    from grit.outputs import OutputFolderError

    try:
        if cfg.base:  # before any work
            check_model_folder(cfg.base)
        if cfg.seeds is not None:
            from grit.seeds import run_seeds, seeds_markdown

            result = run_seeds(cfg, train_overrides, on_run=lambda _, summary, folder: print_summary(summary, folder))
            print(f"\nThe quickstart over seeds {cfg.seeds} ({out / 'seeds.md'}):")
            print(seeds_markdown(result), end="")
            return 0
        summary = run_quickstart(cfg, train_overrides)
    except (FileNotFoundError, ModelLoadError, OutputFolderError) as e:
        raise UsageError(str(e)) from e
    print_summary(summary, out)
    return 0


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
