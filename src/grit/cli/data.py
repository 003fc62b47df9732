"""``grit score`` and ``grit data shapes|check|show``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from grit.boxes import FrameSpec
from grit.cli import UsageError, _check_output_file, add_frame_options, add_judge_options, frame_spec, make_judge


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
        records, names, weights = score_completions(
            completions, samples, args.preset, settings, args.reward, tokenizer
        )
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
    from grit.data.shapes.world import write_shapes

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
    for path in paths.values():
        print(f"wrote {path} ({sum(1 for _ in path.open())} samples)")
    if args.base_tasks:
        from grit.pretrain.tasks import write_base_tasks

        n = write_base_tasks(
            args.out, args.base_tasks, args.seed, cfg, FrameSpec("resized", max_pixels=args.image_size**2)
        )
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


def add_parsers(sub) -> None:
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

    data = sub.add_parser("data", help="make, check and look at data").add_subparsers(
        dest="data_command", required=True
    )
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
    p.add_argument(
        "--base-tasks",
        type=int,
        default=0,
        metavar="N",
        help="also write N base-model tasks (grounding, direct answers) to base_tasks.jsonl",
    )
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
