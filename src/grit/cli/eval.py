"""``grit eval``: accuracy, grounding IoU, format compliance and box-text consistency of a model on data files;
``--compare`` puts two results side by side."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from grit.cli.common import JudgeOptions, UsageError, check_output_dir, parse, quiet_transformers
from grit.models.loading import DTYPES
from grit.prompts import ASK_PROMPTS

HELP = "evaluate a model: accuracy, grounding IoU, format, box-text consistency"


@dataclass
class EvalConfig:
    """``grit eval --model DIR --data A.jsonl [B.jsonl ...] --out OUT`` or ``grit eval --compare A B``."""

    model: str | None = field(default=None, metadata={"help": "local model folder"})
    data: list[str] = field(
        default_factory=list, metadata={"help": "GRIT_data-layout JSONL files, each reported on its own"}
    )
    images: str | None = field(default=None, metadata={"help": "image folder (default: each data file's folder)"})
    prompt: str = field(default="grounded", metadata={"help": "prompt kind", "choices": ASK_PROMPTS})
    batch_size: int = field(default=16, metadata={"help": "prompts generated together", "min": 1})
    max_new_tokens: int = field(default=256, metadata={"help": "generated tokens per answer, at most", "min": 1})
    limit: int | None = field(default=None, metadata={"help": "evaluate the first N samples of each file", "min": 1})
    dtype: str | None = field(
        default=None, metadata={"help": "model dtype (default: float32 on CPU)", "choices": DTYPES}
    )
    cross_modal: bool = field(default=False, metadata={"help": "the paper's judge test of box/text consistency"})
    skip_invalid: bool = field(default=False, metadata={"help": "skip (and report) invalid data lines"})
    out: str | None = field(
        default=None, metadata={"help": "output folder: predictions.jsonl, metrics.json, report.html"}
    )
    overwrite: bool = field(default=False, metadata={"help": "write into a non-empty --out"})
    compare: list[str] = field(
        default_factory=list,
        metadata={"help": "two metrics.json files put side by side with deltas", "nargs": 2, "metavar": ("A", "B")},
    )


def compare(paths: list[Path]) -> int:
    from grit.evaluate import compare

    a, b = (json.loads(p.read_text()) for p in paths)
    predictions = [p.parent / "predictions.jsonl" for p in paths]
    rows = None
    if all(p.is_file() for p in predictions):  # written beside metrics.json by grit eval
        rows = tuple([json.loads(line) for line in p.read_text().splitlines() if line.strip()] for p in predictions)
    print(compare(a, b, (paths[0].parent.name or "A", paths[1].parent.name or "B"), rows))
    if rows is None:
        print("(no predictions.jsonl beside both files: no paired interval)")
    return 0


def main(argv: list[str]) -> int:
    cfg, judge_options = parse(argv, EvalConfig, JudgeOptions, prog="grit eval", description=EvalConfig.__doc__)
    if cfg.compare:
        return compare([Path(p) for p in cfg.compare])
    if not (cfg.model and cfg.data and cfg.out):
        raise UsageError("grit eval needs --model, --data and --out (or --compare A/metrics.json B/metrics.json)")
    quiet_transformers()
    from grit.data import load_samples
    from grit.evaluate import EvalSettings, console_table, evaluate, settings_info, write_outputs
    from grit.models.loading import ModelLoadError, load_policy

    out = Path(cfg.out)
    check_output_dir(out, cfg.overwrite)
    data = {}
    for path in cfg.data:
        samples = load_samples(path, cfg.images, skip_invalid=cfg.skip_invalid)
        data[Path(path).stem if Path(path).stem not in data else path] = samples[: cfg.limit] if cfg.limit else samples
    try:
        policy = load_policy(cfg.model, dtype=cfg.dtype)
    except ModelLoadError as e:
        raise UsageError(str(e)) from e
    judge = judge_options.make()
    settings = EvalSettings(
        cfg.prompt, cfg.batch_size, cfg.max_new_tokens, judge, cfg.cross_modal and judge is not None
    )
    result = evaluate(policy, data, settings)
    info = {"model": str(cfg.model), "data": ", ".join(cfg.data), **settings_info(settings)}
    write_outputs(result, out, info)
    print(console_table(result.metrics))
    print(f"wrote {out / 'predictions.jsonl'}, {out / 'metrics.json'}, {out / 'report.html'}")
    return 0
