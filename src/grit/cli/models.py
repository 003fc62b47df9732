"""``grit model tiny``, ``grit infer`` and ``grit eval``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from grit.cli import (
    UsageError,
    _check_output_dir,
    _check_output_file,
    _quiet_transformers,
    add_judge_options,
    make_judge,
)
from grit.prompts import ASK_PROMPTS


def cmd_model_tiny(args: argparse.Namespace) -> int:
    _quiet_transformers()
    from grit.models.tiny import TinySpec, save_tiny

    try:
        out = save_tiny(args.out, TinySpec(args.size, args.image_size, args.seed), overwrite=args.overwrite)
    except (ValueError, FileExistsError) as e:
        raise UsageError(str(e)) from e
    info = json.loads((out / "grit_model.json").read_text())
    print(
        f"wrote {out}: tiny Qwen2.5-VL ({args.size}, {info['parameters']:,} parameters, {args.image_size} px images)"
    )
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


def cmd_eval(args: argparse.Namespace) -> int:
    if args.compare:
        from grit.evaluate import compare

        paths = [Path(p) for p in args.compare]
        a, b = (json.loads(p.read_text()) for p in paths)
        predictions = [p.parent / "predictions.jsonl" for p in paths]
        rows = None
        if all(p.is_file() for p in predictions):  # written beside metrics.json by grit eval
            rows = tuple(
                [json.loads(line) for line in p.read_text().splitlines() if line.strip()] for p in predictions
            )
        print(compare(a, b, (paths[0].parent.name or "A", paths[1].parent.name or "B"), rows))
        if rows is None:
            print("(no predictions.jsonl beside both files: no paired interval)")
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
        data[Path(path).stem if Path(path).stem not in data else path] = (
            samples[: args.limit] if args.limit else samples
        )
    try:
        policy = load_policy(args.model, dtype=args.dtype)
    except ModelLoadError as e:
        raise UsageError(str(e)) from e
    judge = make_judge(args)
    settings = EvalSettings(
        args.prompt, args.batch_size, args.max_new_tokens, judge, args.cross_modal and judge is not None
    )
    result = evaluate(policy, data, settings)
    info = {"model": str(args.model), "data": ", ".join(args.data), **settings_info(settings)}
    write_outputs(result, out, info)
    print(console_table(result.metrics))
    print(f"wrote {out / 'predictions.jsonl'}, {out / 'metrics.json'}, {out / 'report.html'}")
    return 0


def add_eval_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a model: accuracy, grounding IoU, format, box-text consistency")
    p.add_argument("--model", help="local model folder")
    p.add_argument("--data", nargs="+", help="one or more GRIT_data-layout JSONL files, each reported on its own")
    p.add_argument("--images", default=None, help="image folder (default: each data file's folder)")
    p.add_argument("--prompt", choices=ASK_PROMPTS, default="grounded")
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


def add_parsers(sub) -> None:
    add_eval_parser(sub)
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
    p.add_argument("--prompt", choices=ASK_PROMPTS, default="grounded")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--dtype", default=None, help="float32 (CPU default), bfloat16, float16 or auto")
    p.add_argument("--out", default=None, help="save the image with the boxes drawn here")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_infer)
