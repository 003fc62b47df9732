"""The ``grit`` command line: thin wrappers that parse arguments and call the library, one module per group of
commands (:mod:`grit.cli.data`, :mod:`grit.cli.models`, :mod:`grit.cli.training`); this module holds what they share.

Errors a person can fix (bad data, bad options) print one clear message and exit with status 2.
"""

from __future__ import annotations

import argparse
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
    p.add_argument(
        "--frame",
        choices=FRAME_KINDS,
        default="resized",
        help="coordinate frame of the boxes in the completions (default: resized, Qwen2/2.5-VL)",
    )
    p.add_argument("--min-pixels", type=int, default=QWEN_MIN_PIXELS, help="processor min_pixels (resized frame)")
    p.add_argument(
        "--max-pixels",
        type=int,
        default=GRIT_TRAIN_MAX_PIXELS,
        help="processor max_pixels (resized frame; default: GRIT's training setting 256*28*28)",
    )


def frame_spec(args: argparse.Namespace) -> FrameSpec:
    return FrameSpec(args.frame, args.min_pixels, args.max_pixels, QWEN_FACTOR)


def add_judge_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--judge",
        choices=("rules", "openai"),
        default="rules",
        help="answer checking: the rule-based verifier (default, free) or an OpenAI-compatible LLM judge",
    )
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


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _check_output_dir(path: Path, overwrite: bool) -> None:
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise UsageError(f"{path} exists and is not empty; pass --overwrite to write into it, or choose another --out")


def build_parser() -> argparse.ArgumentParser:
    from grit.cli import data, demo, models, training

    parser = argparse.ArgumentParser(prog="grit", description="Teach vision-language models to think with images.")
    sub = parser.add_subparsers(dest="command", required=True)
    data.add_parsers(sub)
    models.add_parsers(sub)
    training.add_parsers(sub)
    demo.add_parsers(sub)
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
