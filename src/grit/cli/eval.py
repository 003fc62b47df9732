"""``grit eval``: accuracy, grounding IoU, format compliance and box-text consistency of a model on data files;
``--compare`` puts two results side by side."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

from grit.cli.common import JudgeOptions, UsageError, check_output_dir, parse, quiet_transformers
from grit.models.loading import device_field, dtype_field, frame_field
from grit.outputs import EVAL_OWN_TEXT, foreign_files
from grit.prompts import PROMPT_KINDS

HELP = "evaluate a model: accuracy, grounding IoU, format, box-text consistency"


@dataclass
class EvalConfig:
    """``grit eval --model DIR --data A.jsonl [B.jsonl ...] --out OUT`` or ``grit eval --compare A B``."""

    model: str | None = field(default=None, metadata={"help": "local model folder"})
    data: list[str] = field(
        default_factory=list, metadata={"help": "GRIT_data-layout JSONL files, each reported on its own"}
    )
    images: str | None = field(default=None, metadata={"help": "image folder (default: each data file's folder)"})
    prompt: str = field(default="grounded", metadata={"help": "prompt kind", "choices": PROMPT_KINDS})
    batch_size: int = field(default=16, metadata={"help": "prompts generated together", "min": 1})
    max_new_tokens: int = field(default=256, metadata={"help": "generated tokens per answer, at most", "min": 1})
    limit: int | None = field(default=None, metadata={"help": "evaluate the first N samples of each file", "min": 1})
    dtype: str | None = dtype_field()
    device: str = device_field()
    frame: str | None = frame_field()
    cross_modal: bool = field(default=False, metadata={"help": "the paper's judge test of box/text consistency"})
    skip_invalid: bool = field(default=False, metadata={"help": "skip (and report) invalid data lines"})
    out: str | None = field(
        default=None, metadata={"help": "output folder: predictions.jsonl, metrics.json, report.html"}
    )
    overwrite: bool = field(default=False, metadata={"help": "write into a non-empty --out"})
    compare: list[str] = field(
        default_factory=list,
        metadata={
            "help": "two eval output folders (or their metrics.json) put side by side with deltas",
            "nargs": 2,
            "metavar": ("A", "B"),
        },
    )


def read_metrics(path: Path) -> tuple[Path, dict]:
    """``(metrics.json path, its content)`` of a ``--compare`` argument: an eval output folder or its metrics.json."""
    file = path / "metrics.json" if path.is_dir() else path
    if not file.is_file():
        where = f"{path} holds no metrics.json" if path.is_dir() else f"{path} does not exist"
        raise UsageError(f"compare: {where}; give a grit eval output folder or its metrics.json")
    try:
        content = json.loads(file.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as e:
        raise UsageError(f"compare: {file} is not a metrics.json of grit eval ({e})") from e
    metrics = content.get("metrics") if isinstance(content, dict) else None
    if not isinstance(metrics, dict) or not all(isinstance(m, dict) and "all" in m for m in metrics.values()):
        raise UsageError(f'compare: {file} is not a metrics.json of grit eval (no "metrics" per data set)')
    from grit.evaluate import COLUMNS

    for dataset, values in metrics.items():
        if not isinstance(values["all"], dict):
            raise UsageError(
                f"compare: {file}: metrics.{dataset}.all is not an object of metrics; compare the "
                "metrics.json grit eval wrote, unedited"
            )
        for key, *_ in COLUMNS:
            value = values["all"].get(key)
            number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if value is not None and not number:  # NaN too: grit eval writes null for a metric with no value
                raise UsageError(
                    f"compare: {file}: metrics.{dataset}.all.{key} is {value!r}, not a number; compare the "
                    "metrics.json grit eval wrote, unedited"
                )
    return file, content


def read_rows(file: Path) -> list[dict] | None:
    """The prediction rows written beside a metrics.json, or None where there is none. A predictions.jsonl that is
    there but not grit eval's rows stops the comparison, naming its line, rather than dropping the paired interval."""
    predictions = file.parent / "predictions.jsonl"
    if not predictions.is_file():
        return None
    fix = "run grit eval again for that folder, or move the file away to compare without the paired interval"
    try:
        text = predictions.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(f"compare: {predictions} is not UTF-8 text (byte {e.start}); {fix}") from e
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise UsageError(f"compare: {predictions} line {number} is not JSON ({e}); {fix}") from e
        if not isinstance(row, dict):
            raise UsageError(f"compare: {predictions} line {number} is not a prediction (a JSON object); {fix}")
        rows.append(row)
    return rows


def sample_warnings(a: dict, b: dict, rows) -> list[str]:
    """Say where the two sides were not measured on the same samples (their deltas then compare different sets):
    other ids, or the same ids asking other questions (another data set's predictions)."""
    warnings = []
    only_one = sorted(set(a["metrics"]) ^ set(b["metrics"]))
    if only_one:
        warnings.append(f"overall: data sets in only one of them ({', '.join(only_one)})")
    for dataset in [d for d in a["metrics"] if d in b["metrics"] and d != "overall"]:
        if rows:
            asked = [
                {r.get("id"): (r.get("question"), r.get("answer")) for r in side if r.get("data") == dataset}
                for side in rows
            ]
            ids = [set(side) for side in asked]
            if ids[0] != ids[1]:
                warnings.append(
                    f"{dataset}: different samples ({len(ids[0] & ids[1])} in common, of {len(ids[0])} and "
                    f"{len(ids[1])})"
                )
            other = sorted(str(i) for i in ids[0] & ids[1] if asked[0][i] != asked[1][i])
            if other:
                warnings.append(
                    f"{dataset}: {len(other)} ids with another question or answer on each side (first: {other[0]}), "
                    "predictions of different data"
                )
            continue
        n = [side["metrics"][dataset]["all"].get("samples") for side in (a, b)]
        if n[0] != n[1]:
            warnings.append(f"{dataset}: different sample counts ({n[0]} and {n[1]})")
    return warnings


def compare(paths: list[Path]) -> int:
    from grit.evaluate import compare

    (file_a, a), (file_b, b) = (read_metrics(p) for p in paths)
    if file_a.resolve() == file_b.resolve():
        raise UsageError(f"--compare names {file_a} twice; give two different evaluations")
    rows = tuple(read_rows(f) for f in (file_a, file_b))
    for file, side, found in zip((file_a, file_b), (a, b), rows):
        samples = side["metrics"].get("overall", {}).get("all", {}).get("samples")
        if None not in rows and isinstance(samples, int) and len(found) != samples:  # cut short, or another run's
            raise UsageError(
                f"compare: {file.parent / 'predictions.jsonl'} holds {len(found)} predictions, its metrics.json "
                f"{samples} samples; run grit eval again for that folder, or move the file away to compare without "
                "the paired interval"
            )
    rows = rows if all(r is not None for r in rows) else None
    names = (file_a.parent.name or "A", file_b.parent.name or "B")
    if names[0] == names[1] or max(map(len, names)) > 9:  # r1/eval and r2/eval, or names wider than a column
        print(f"A: {file_a.parent}\nB: {file_b.parent}")
        names = ("A", "B")
    print(compare(a, b, names, rows))
    if rows is None:
        print("(no predictions.jsonl beside both files: no paired interval)")
    for warning in sample_warnings(a, b, rows):
        print(f"warning: {warning}: the deltas compare different sets", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    from grit.arguments import field_default

    cfg, judge_options = parse(argv, EvalConfig, JudgeOptions, prog="grit eval", description=EvalConfig.__doc__)
    if cfg.compare:
        if len(cfg.compare) != 2:  # a config file's list can hold any number; the flag takes two
            raise UsageError(
                f"compare: {cfg.compare} names {len(cfg.compare)} evaluation{'s' if len(cfg.compare) > 1 else ''}; "
                "give two grit eval output folders, A and B"
            )
        extra = [
            f"--{f.name}"
            for options in (cfg, judge_options)
            for f in fields(options)
            if f.name != "compare" and getattr(options, f.name) != field_default(f)
        ]
        if extra:  # the comparison writes nothing and runs no model: those flags would be ignored
            raise UsageError(
                f"--compare prints two finished evaluations side by side; it takes no {', '.join(extra)} (those are "
                "for an evaluation run: grit eval --model DIR --data FILE --out OUT)"
            )
        return compare([Path(p) for p in cfg.compare])
    if not (cfg.model and cfg.data and cfg.out):
        missing = ", ".join(f"--{n}" for n in ("model", "data", "out") if not getattr(cfg, n))
        raise UsageError(
            f"grit eval needs --model, --data and --out; give {missing} too (or --compare A B: two grit eval output "
            "folders)"
        )
    if cfg.cross_modal and judge_options.judge == "rules":  # the test asks a judge; rules would skip it silently
        raise UsageError(
            "cross_modal: the paper's box-text consistency test asks an LLM judge; pass --judge openai with "
            "--judge_base_url and --judge_model, or leave out --cross_modal"
        )
    quiet_transformers()
    from grit.data import load_samples
    from grit.data.images import ImageProblem
    from grit.evaluate import EvalSettings, console_table, evaluate, settings_info, write_outputs
    from grit.models.generation import PromptTooLong
    from grit.models.loading import ModelLoadError, load_policy

    out = Path(cfg.out)
    check_output_dir(out, cfg.overwrite)
    if cfg.overwrite and (theirs := foreign_files(out, EVAL_OWN_TEXT)):
        raise UsageError(
            f"--out {out} holds {', '.join(theirs)}, which grit eval did not write; --overwrite replaces only its "
            f"own {', '.join(EVAL_OWN_TEXT)}, so move {'it' if len(theirs) == 1 else 'them'} away or choose another "
            "--out"
        )
    data, skipped = {}, []
    resolved = [Path(p).resolve() for p in cfg.data]
    twice = sorted({p for p, r in zip(cfg.data, resolved) if resolved.count(r) > 1})
    if twice:  # each file's samples would be scored twice and counted twice in the overall row
        raise UsageError(f"--data names {', '.join(twice)} more than once; give each file once")
    for path in cfg.data:
        samples = load_samples(path, cfg.images, skipped, skip_invalid=cfg.skip_invalid)
        name = Path(path).stem  # "overall" is the key of every file's samples together
        data[name if name not in data and name != "overall" else path] = samples[: cfg.limit] if cfg.limit else samples
    judge = judge_options.make()  # its flags and cache are checked before the model loads
    try:
        policy = load_policy(cfg.model, dtype=cfg.dtype, device=cfg.device, frame=cfg.frame)
    except ModelLoadError as e:
        raise UsageError(str(e)) from e
    data = fit_context(policy, data, cfg, skipped)
    settings = EvalSettings(cfg.prompt, cfg.batch_size, cfg.max_new_tokens, judge, cfg.cross_modal)
    try:
        result = evaluate(policy, data, settings)
    except ImageProblem as e:  # an image changed or removed since the data was read
        raise UsageError(f"{e.message}; {e.fix}, then evaluate again") from e
    except PromptTooLong as e:
        raise UsageError(f"{e}; shorten the question or lower --max_new_tokens") from e
    info = {"model": str(cfg.model), "data": ", ".join(cfg.data), **settings_info(settings)}
    if skipped:  # --skip_invalid: what was left out is part of the result, not only of the console
        info["skipped"] = "; ".join(skipped)
    info["frame"] = policy.frame.kind
    if warning := frame_warning(data, result, policy.frame):  # in the outputs too: the figures depend on it
        info["frame_warning"] = warning
    if judge is not None and (judge_note := judge.failure_note()):
        info["judge_warning"] = judge_note
    if limit_note := limit_warning(result, cfg.max_new_tokens):  # scored as cut: say so, in the outputs too
        info["limit_warning"] = limit_note
    write_outputs(result, out, info)
    print(console_table(result.metrics))
    print(f"wrote {out / 'predictions.jsonl'}, {out / 'metrics.json'}, {out / 'report.html'}")
    for note in (warning, info.get("judge_warning"), info.get("limit_warning")):
        if note:
            print(f"warning: {note}", file=sys.stderr)
    if judge is not None and all(m["all"]["accuracy"] is None for m in result.metrics.values()):
        raise UsageError(
            "the judge scored no answer, so no accuracy could be measured (the generations are saved in "
            f"{out / 'predictions.jsonl'}); fix the judge and evaluate again, or use --judge rules"
        )
    return 0


def limit_warning(result, max_new_tokens: int) -> str | None:
    """How many outputs ran to ``--max_new_tokens`` and were cut there (scored as they stand), or None."""
    overall = result.metrics["overall"]["all"]
    cut, n = overall.get("stopped_at_limit", 0), overall["samples"]
    if not cut:
        return None
    return (
        f"{cut} of {n} outputs stopped at --max_new_tokens {max_new_tokens} without finishing and were scored as "
        "cut (their rows in predictions.jsonl say stopped_at_limit); raise --max_new_tokens to let them finish"
    )


def fit_context(policy, data: dict, cfg: EvalConfig, skipped: list[str]) -> dict:
    """The data sets with no question too long for the model's context (past it a model writes noise, which would
    be scored as wrong answers) and none holding a control token of its chat template: refused, or with
    ``--skip_invalid`` left out and reported in ``skipped``."""
    from grit.models.generation import control_token_problem, overlong, overlong_problem

    fitted = {}
    for name, samples in data.items():
        marked, problem = control_token_problem(policy, samples)
        if marked and not cfg.skip_invalid:
            raise UsageError(f"{problem}, or leave such samples out (--skip_invalid)")
        if marked:
            where = ", ".join(s.source or s.id for s in marked[:20]) + (" ..." if len(marked) > 20 else "")
            skipped.append(
                f"{name}: {len(marked)} question{'s' if len(marked) > 1 else ''} holding a control token "
                f"of the model's chat template: {where}"
            )
            print(f"warning: {skipped[-1]}", file=sys.stderr)
            marked_ids = {id(s) for s in marked}
            samples = [s for s in samples if id(s) not in marked_ids]
            if not samples:
                raise UsageError(f"{name}: every question holds a control token of the model's chat template")
        limit, long = overlong(policy, samples, cfg.prompt, cfg.max_new_tokens)
        if long and not cfg.skip_invalid:
            raise UsageError(
                f"{overlong_problem(long, limit, '--max_new_tokens', cfg.max_new_tokens)}. Shorten the question, "
                "lower --max_new_tokens, or leave such samples out (--skip_invalid)"
            )
        if long:
            where = ", ".join(s.source or s.id for s, _ in long[:20]) + (" ..." if len(long) > 20 else "")
            what = f"{len(long)} question{'s' if len(long) > 1 else ''} too long"
            skipped.append(f"{name}: {what} for the model's context of {limit:,} tokens: {where}")
            print(f"warning: {skipped[-1]}", file=sys.stderr)
            dropped = {id(s) for s, _ in long}
            samples = [s for s in samples if id(s) not in dropped]
            if not samples:
                raise UsageError(f"{name}: every question is too long for the model's context of {limit:,} tokens")
        fitted[name] = samples
    return fitted


def frame_warning(data: dict, result, spec) -> str | None:
    """What :func:`grit.grounding.frame_doubt` finds in an evaluation's boxes, with ``--frame`` as the fix."""
    from grit.chain import parse as parse_chain
    from grit.grounding import frame_doubt

    items = [
        (parse_chain(row["output"]), s.width, s.height, s.evidence_boxes)
        for name, samples in data.items()
        for s, row in zip(samples, result.rows[name])
    ]
    doubt = frame_doubt(items, spec)
    return (
        f"{doubt}. If the model was trained to write its boxes so, evaluate again with that --frame" if doubt else None
    )
