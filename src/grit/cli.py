"""The ``grit`` command line: thin wrappers that parse arguments and call the library.

Errors a person can fix (bad data, bad options) print one clear message and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from grit.boxes import FRAME_KINDS, GRIT_TRAIN_MAX_PIXELS, QWEN_FACTOR, QWEN_MIN_PIXELS, FrameSpec


class UsageError(Exception):
    """A problem with the command's input that the user can fix; printed without a traceback."""


def _offline_defaults() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _check_output_file(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise UsageError(f"{path} exists; pass --overwrite to replace it, or choose another --out")


def add_frame_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frame", choices=FRAME_KINDS, default="resized",
                   help="coordinate frame of the boxes in the completions (default: resized, Qwen2/2.5-VL)")
    p.add_argument("--min-pixels", type=int, default=QWEN_MIN_PIXELS, help="processor min_pixels (resized frame)")
    p.add_argument("--max-pixels", type=int, default=GRIT_TRAIN_MAX_PIXELS,
                   help="processor max_pixels (resized frame; default: GRIT's training setting 256*28*28)")


def frame_spec(args: argparse.Namespace) -> FrameSpec:
    return FrameSpec(args.frame, args.min_pixels, args.max_pixels, QWEN_FACTOR)


def add_judge_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--judge", choices=("rules", "openai"), default="rules",
                   help="answer checking: the rule-based verifier (default, free) or an OpenAI-compatible LLM judge")
    p.add_argument("--judge-base-url", default=None, help="e.g. http://127.0.0.1:8000/v1 (or GRIT_JUDGE_BASE_URL)")
    p.add_argument("--judge-model", default=None, help="judge model name (or GRIT_JUDGE_MODEL)")
    p.add_argument("--judge-cache", default=None, help="SQLite file caching judge scores")


def make_judge(args: argparse.Namespace):
    if args.judge == "rules":
        return None
    from grit.judge import JudgeError, OpenAIJudge

    try:
        return OpenAIJudge(base_url=args.judge_base_url, model=args.judge_model, cache_path=args.judge_cache)
    except JudgeError as e:
        raise UsageError(str(e)) from e


def cmd_score(args: argparse.Namespace) -> int:
    from grit.data import read_samples
    from grit.rewards import RewardSettings
    from grit.score import read_completions, score_completions, summary_table

    out = Path(args.out) if args.out else None
    if out:
        _check_output_file(out, args.overwrite)
    data = read_samples(args.data, args.images, check_images=args.images is not None)
    samples = {s.id: s for s in data.samples}
    completions = read_completions(args.completions, set(samples))
    tokenizer = None
    if args.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    settings = RewardSettings(frame=frame_spec(args), judge=make_judge(args))
    try:
        records, names, weights = score_completions(completions, samples, args.preset, settings, args.reward, tokenizer)
    except KeyError as e:  # an unknown reward name
        raise UsageError(e.args[0]) from e
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"preset {args.preset}: {len(records)} completions of {len(samples)} samples ({args.data})")
    print(summary_table(records, names, weights))
    if "reference_repetition" in names and tokenizer is None:
        print("note: reference_repetition needs token ids; pass --tokenizer DIR to compute it")
    if out:
        print(f"wrote {out}")
    return 0


def cmd_data_shapes(args: argparse.Namespace) -> int:
    from grit.data import load_samples
    from grit.data.selection import select_grit20
    from grit.data.shapes import WorldConfig
    from grit.data.world import write_shapes

    families = [f.strip() for f in args.families.split(",") if f.strip()]
    mix = None
    if args.mix:
        values = [float(v) for v in args.mix.split(",")]
        if len(values) != len(families):
            raise UsageError(f"--mix has {len(values)} weights for {len(families)} families ({args.families})")
        mix = dict(zip(families, values))
    try:
        cfg = WorldConfig(image_size=args.image_size, min_objects=args.min_objects, max_objects=args.max_objects)
        paths = write_shapes(args.out, args.n, args.seed, cfg, families, mix, overwrite=args.overwrite)
    except (ValueError, FileExistsError) as e:
        raise UsageError(str(e)) from e
    for split, path in paths.items():
        print(f"wrote {path} ({sum(1 for _ in path.open())} samples)")
    if args.base_tasks:
        from grit.data.tasks import write_base_tasks

        n = write_base_tasks(args.out, args.base_tasks, args.seed, cfg, FrameSpec("resized", max_pixels=args.image_size**2))
        print(f"wrote {Path(args.out) / 'base_tasks.jsonl'} ({n} grounding and direct-answer examples, never chains)")
    try:
        grit20 = select_grit20(load_samples(paths["train"]), seed=args.seed)
    except ValueError as e:
        print(f"no grit20.jsonl: {e}")
        return 0
    out = Path(args.out) / "grit20.jsonl"
    with out.open("w", encoding="utf-8") as f:
        for sample in grit20:
            f.write(json.dumps(sample.to_record()) + "\n")
    print(f"wrote {out} (GRIT-20: 10 counting with counts 0-4, 10 spatial, from the train split)")
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    from grit.data import read_samples
    from grit.data.inspect import check_report

    result = read_samples(args.file, args.images, skip_invalid=True)
    print(f"{args.file}:")
    print(check_report(result))
    return 1 if result.problems else 0


def cmd_data_show(args: argparse.Namespace) -> int:
    from grit.data import load_samples
    from grit.data.inspect import show_sheet

    out = Path(args.out)
    _check_output_file(out, args.overwrite)
    samples = load_samples(args.file, args.images, skip_invalid=args.skip_invalid)
    try:
        sheet = show_sheet(samples, args.n, args.seed, args.columns)
    except ValueError as e:
        raise UsageError(str(e)) from e
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    print(f"wrote {out} ({min(args.n, len(samples))} samples)")
    return 0


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def cmd_model_tiny(args: argparse.Namespace) -> int:
    _quiet_transformers()
    from grit.models.tiny import TinySpec, save_tiny

    try:
        out = save_tiny(args.out, TinySpec(args.size, args.image_size, args.seed), overwrite=args.overwrite)
    except (ValueError, FileExistsError) as e:
        raise UsageError(str(e)) from e
    info = json.loads((out / "grit_model.json").read_text())
    print(f"wrote {out}: tiny Qwen2.5-VL ({args.size}, {info['parameters']:,} parameters, {args.image_size} px images)")
    return 0


def cmd_infer(args: argparse.Namespace) -> int:
    _quiet_transformers()
    from grit.data.images import ImageProblem, load_image
    from grit.infer import annotate, describe, infer
    from grit.models.generation import GenerationSettings
    from grit.models.loading import ModelLoadError, load_policy

    out = Path(args.out) if args.out else None
    if out:
        _check_output_file(out, args.overwrite)
    try:
        image = load_image(args.image)
        policy = load_policy(args.model, dtype=args.dtype)
    except (ImageProblem, ModelLoadError) as e:
        raise UsageError(str(e)) from e
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, batch_size=1)
    result = infer(policy, image, args.question, args.prompt, settings)
    print(describe(result))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        annotate(image, result).save(out)
        print(f"wrote {out}")
    return 0


def _check_output_dir(path: Path, overwrite: bool) -> None:
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise UsageError(f"{path} exists and is not empty; pass --overwrite to write into it, or choose another --out")


def cmd_eval(args: argparse.Namespace) -> int:
    if args.compare:
        from grit.evaluate import compare

        a, b = (json.loads(Path(p).read_text()) for p in args.compare)
        print(compare(a, b, (Path(args.compare[0]).parent.name or "A", Path(args.compare[1]).parent.name or "B")))
        return 0
    if not (args.model and args.data and args.out):
        raise UsageError("grit eval needs --model, --data and --out (or --compare A/metrics.json B/metrics.json)")
    _quiet_transformers()
    from grit.data import load_samples
    from grit.evaluate import EvalSettings, console_table, evaluate, settings_info, write_outputs
    from grit.models.loading import ModelLoadError, load_policy

    out = Path(args.out)
    _check_output_dir(out, args.overwrite)
    data = {}
    for path in args.data:
        samples = load_samples(path, args.images, skip_invalid=args.skip_invalid)
        data[Path(path).stem if Path(path).stem not in data else path] = samples[: args.limit] if args.limit else samples
    try:
        policy = load_policy(args.model, dtype=args.dtype)
    except ModelLoadError as e:
        raise UsageError(str(e)) from e
    judge = make_judge(args)
    settings = EvalSettings(args.prompt, args.batch_size, args.max_new_tokens, judge, args.cross_modal and judge is not None)
    result = evaluate(policy, data, settings)
    info = {"model": str(args.model), "data": ", ".join(args.data), **settings_info(settings)}
    write_outputs(result, out, info)
    print(console_table(result.metrics))
    print(f"wrote {out / 'predictions.jsonl'}, {out / 'metrics.json'}, {out / 'report.html'}")
    return 0


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
    from grit.train import TrainConfigError, load_recipe, train

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
    from grit.quickstart import run_quickstart
    from grit.train import TrainConfigError

    out = Path(args.out)
    _check_output_dir(out, args.overwrite)
    try:
        summary = run_quickstart(out, args.base, args.seed, args.n_eval, recipe=args.recipe, overrides=extra)
    except (FileNotFoundError, TrainConfigError) as e:
        raise UsageError(str(e)) from e
    print(f"{'family':<12}{'base direct':>13}{'base grounded':>15}{'GRIT grounded':>15}{'format':>8}{'IoU':>7}")
    for fam, r in summary["table"].items():
        cells = [r["base_direct_accuracy"], r["base_grounded_accuracy"], r["grit_grounded_accuracy"],
                 r["grit_grounded_format"], r["grit_grounded_union_iou"]]
        print(f"{fam:<12}" + "".join(f"{'-' if v is None else f'{v:.3f}':>{w}}" for v, w in zip(cells, (13, 15, 15, 8, 7))))
    for target, ok in summary["targets"].items():
        print(f"{'met' if ok else 'NOT MET'}: {target}")
    print(f"{summary['seconds']['total'] / 60:.1f} min; report: {out / 'report.html'}")
    return 0


def add_pretrain_parser(sub) -> None:
    p = sub.add_parser("quickstart", help="the offline pipeline: shapes world, base eval, GRPO-GR on GRIT-20, report")
    p.add_argument("--out", default="runs/quickstart")
    p.add_argument("--base", default=None, help="base model folder (default: the shipped tiny base)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-eval", type=int, default=200, help="held-out test samples evaluated before and after")
    p.add_argument("--recipe", default=None, help="GRPO recipe (default: recipes/shapes_tiny_cpu.yaml)")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    p.set_defaults(func=cmd_quickstart, takes_extra=True)
    p = sub.add_parser("train", help="GRPO-GR on TRL's GRPOTrainer: --config RECIPE.yaml [--field value ...]",
                       add_help=False)
    p.set_defaults(func=cmd_train, takes_extra=True)
    p = sub.add_parser("pretrain", help="train the tiny base to ground and answer on the shapes world")
    p.add_argument("--config", default=None, help="a recipe, e.g. recipes/shapes_base.yaml")
    p.add_argument("--out", default=None, help="run folder (overrides the recipe's out)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint-last")
    p.set_defaults(func=cmd_pretrain, takes_extra=True)


def add_eval_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a model: accuracy, grounding IoU, format, box-text consistency")
    p.add_argument("--model", help="local model folder")
    p.add_argument("--data", nargs="+", help="one or more GRIT_data-layout JSONL files, each reported on its own")
    p.add_argument("--images", default=None, help="image folder (default: each data file's folder)")
    p.add_argument("--prompt", choices=("grounded", "direct", "cot", "icl"), default="grounded")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N samples of each file")
    p.add_argument("--dtype", default=None)
    p.add_argument("--cross-modal", action="store_true", help="the paper's judge test of box/text consistency")
    p.add_argument("--skip-invalid", action="store_true", help="skip (and report) invalid data lines")
    p.add_argument("--out", help="output folder: predictions.jsonl, metrics.json, report.html")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="put two metrics.json side by side with deltas")
    add_judge_options(p)
    p.set_defaults(func=cmd_eval)


def add_model_parsers(sub) -> None:
    model = sub.add_parser("model", help="build models").add_subparsers(dest="model_command", required=True)
    p = model.add_parser("tiny", help="build the tiny Qwen2.5-VL with a locally trained tokenizer")
    p.add_argument("--out", required=True)
    p.add_argument("--size", choices=("micro", "tiny", "small"), default="tiny")
    p.add_argument("--image-size", type=int, default=112, help="images are resized to at most this square's area")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_model_tiny)
    p = sub.add_parser("infer", help="ask one question about one image and draw the chain's boxes")
    p.add_argument("--model", required=True, help="local model folder")
    p.add_argument("--image", required=True)
    p.add_argument("--question", required=True)
    p.add_argument("--prompt", choices=("grounded", "direct", "cot", "icl"), default="grounded")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--dtype", default=None, help="float32 (CPU default), bfloat16, float16 or auto")
    p.add_argument("--out", default=None, help="save the image with the boxes drawn here")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_infer)


def add_data_parsers(sub) -> None:
    data = sub.add_parser("data", help="make, check and look at data").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("shapes", help="generate the shapes world in the GRIT_data layout")
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=1000, help="samples over all splits (80/10/10 train/val/test)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-size", type=int, default=112)
    p.add_argument("--min-objects", type=int, default=1)
    p.add_argument("--max-objects", type=int, default=6)
    p.add_argument("--families", default="counting,spatial,existence,attribute")
    p.add_argument("--mix", default=None, help="weights per family, e.g. 0.4,0.3,0.15,0.15")
    p.add_argument("--overwrite", action="store_true", help="replace existing split files")
    p.add_argument("--base-tasks", type=int, default=0, metavar="N",
                   help="also write N base-model tasks (grounding, direct answers) to base_tasks.jsonl")
    p.set_defaults(func=cmd_data_shapes)
    p = data.add_parser("check", help="validate a data file and print what it holds")
    p.add_argument("file")
    p.add_argument("--images", default=None, help="image folder (default: the file's folder)")
    p.set_defaults(func=cmd_data_check)
    p = data.add_parser("show", help="draw samples with their evidence boxes on a contact sheet")
    p.add_argument("file")
    p.add_argument("--images", default=None)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--columns", type=int, default=4)
    p.add_argument("--out", required=True)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--skip-invalid", action="store_true", help="skip (and report) invalid lines instead of stopping")
    p.set_defaults(func=cmd_data_show)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grit", description="Teach vision-language models to think with images.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("score", help="rescore saved completions with a reward preset")
    p.add_argument("--data", required=True, help="samples, GRIT_data JSONL layout")
    p.add_argument("--completions", required=True, help='JSONL of {"id": ..., "completion": "..."}')
    p.add_argument("--preset", choices=("grit", "paper", "reference"), default="grit")
    p.add_argument("--reward", action="append", default=[], help="add a reward by name (e.g. grounding)")
    p.add_argument("--images", default=None, help="image folder; only needed if width/height are missing")
    p.add_argument("--tokenizer", default=None, help="local tokenizer folder, for reference_repetition's token ids")
    p.add_argument("--out", default=None, help="write one JSON object per completion here")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    add_frame_options(p)
    add_judge_options(p)
    p.set_defaults(func=cmd_score)
    add_data_parsers(sub)
    add_model_parsers(sub)
    add_eval_parser(sub)
    add_pretrain_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    _offline_defaults()
    args, extra = build_parser().parse_known_args(argv)
    from grit.data.schema import DataError

    try:
        if getattr(args, "takes_extra", False):
            return args.func(args, extra)
        if extra:
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        return args.func(args)
    except (UsageError, DataError) as e:
        print(f"grit {args.command}: error: {e}", file=sys.stderr)
        if isinstance(e, DataError) and len(e.problems) > 1:
            for problem in e.problems[1:20]:
                print(f"  {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
