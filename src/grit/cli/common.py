"""What the command modules share: the error a person can fix, the option groups several commands take (the boxes'
coordinate frame, the answer judge), output-path checks and quiet logging."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from grit.boxes import FRAME_KINDS, GRIT_TRAIN_MAX_PIXELS, QWEN_FACTOR, QWEN_MAX_PIXELS, QWEN_MIN_PIXELS, FrameSpec
from grit.judge import JUDGES


class UsageError(Exception):
    """A problem with the command's input that the user can fix; printed without a traceback."""


def offline_defaults() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def check_not_empty(path: str | Path, flag: str = "--out") -> None:
    """Refuse an empty path (an unset shell variable, ``--out "$OUT"``), which would mean the current folder."""
    if isinstance(path, str) and not path.strip():
        raise UsageError(f"{flag} is empty; give a path (an unset variable in the command line leaves it empty)")


def check_writable(path: str | Path, flag: str = "--out", folder: bool = True) -> None:
    """Refuse, before any work, an output folder (or file) that cannot be written (:func:`grit.outputs.unwritable`)."""
    from grit.outputs import unwritable

    check_not_empty(path, flag)
    problem = unwritable(path, folder)
    if problem:
        raise UsageError(f"{flag} {path}: {problem}; choose another {flag}")


def check_output_file(path: Path, overwrite: bool, inputs: dict[str, str | None] | None = None) -> None:
    """Refuse an ``--out`` file that is a folder, exists without ``--overwrite``, is one of the ``inputs``
    (flag -> path) the command reads (writing it would destroy what it reads), or cannot be written."""
    for flag, given in (inputs or {}).items():
        if given and Path(given).exists() and path.exists() and os.path.samefile(path, given):  # links too
            raise UsageError(f"--out {path} is the {flag} file this command reads; choose another --out")
    if path.is_dir():
        raise UsageError(f"--out: {path} is a folder; give a file in it, such as {path / 'scored.jsonl'}")
    if path.exists() and not overwrite:
        raise UsageError(f"{path} exists; pass --overwrite to replace it, or choose another --out")
    check_writable(path, folder=False)


def image_output(out: str) -> Path:
    """The image file ``--out`` names: ``.png`` added when it has no extension; refused when PIL cannot write it
    (:func:`check_output_file`, which every caller runs next, checks the rest)."""
    from PIL import Image

    check_not_empty(out)
    path = Path(out)
    if out.endswith(("/", "\\")) or path.is_dir():
        raise UsageError(f"--out: {out} is a folder; give an image file such as {path / 'sheet.png'}")
    if path.exists() and not path.is_file():  # a device or pipe such as /dev/null: no image is written there
        raise UsageError(f"--out: {out} is not a plain file; give an image file such as sheet.png")
    if not path.suffix:
        return path.with_name(path.name + ".png")
    if path.suffix.lower() not in Image.registered_extensions():
        raise UsageError(f"--out: cannot write a {path.suffix} image; give a .png (or .jpg) file")
    return path


def check_output_dir(path: Path, overwrite: bool) -> None:
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out: {path} is a file, not a folder; choose a folder for the outputs")
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise UsageError(f"{path} exists and is not empty; pass --overwrite to write into it, or choose another --out")
    check_writable(path)


@dataclass
class FrameOptions:
    """The coordinate frame of the boxes in completions (``grit score``)."""

    frame: str = field(
        default="resized",
        metadata={"help": "coordinate frame of the boxes (resized: Qwen2.5-VL)", "choices": FRAME_KINDS},
    )
    min_pixels: int = field(
        default=QWEN_MIN_PIXELS, metadata={"help": "processor min_pixels (resized frame)", "min": 1}
    )
    max_pixels: int = field(
        default=GRIT_TRAIN_MAX_PIXELS,
        metadata={"help": "processor max_pixels (resized frame; GRIT trains with 256*28*28)", "min": 1},
    )

    def spec(self) -> FrameSpec:
        if self.min_pixels > self.max_pixels:
            raise UsageError(
                f"--min_pixels {self.min_pixels} is above --max_pixels {self.max_pixels}; give the processor's own "
                f"values (Qwen2.5-VL: min {QWEN_MIN_PIXELS}, max {QWEN_MAX_PIXELS}; GRIT trains with max "
                f"{GRIT_TRAIN_MAX_PIXELS})"
            )
        return FrameSpec(self.frame, self.min_pixels, self.max_pixels, QWEN_FACTOR)


@dataclass
class JudgeOptions:
    """Answer checking: the rule-based verifier, or an OpenAI-compatible LLM judge (``grit score``, ``grit eval``)."""

    judge: str = field(
        default="rules",
        metadata={"help": "rules (free, reproducible) or openai (an OpenAI-compatible LLM judge)", "choices": JUDGES},
    )
    judge_base_url: str | None = field(
        default=None, metadata={"help": "e.g. http://127.0.0.1:8000/v1 (or GRIT_JUDGE_BASE_URL)"}
    )
    judge_model: str | None = field(default=None, metadata={"help": "judge model name (or GRIT_JUDGE_MODEL)"})
    judge_cache: str | None = field(default=None, metadata={"help": "SQLite file caching judge scores"})

    def make(self):
        """The judge, or None for the rule-based verifier."""
        from grit.judge import JudgeError, OpenAIJudge, unused_judge_fields

        fields = dict(judge_base_url=self.judge_base_url, judge_model=self.judge_model, judge_cache=self.judge_cache)
        if problem := unused_judge_fields(self.judge, "--", **fields):
            raise UsageError(problem)
        if self.judge == "rules":
            return None

        try:
            return OpenAIJudge(base_url=self.judge_base_url, model=self.judge_model, cache_path=self.judge_cache)
        except JudgeError as e:
            raise UsageError(str(e)) from e


def parse(argv, *dataclass_types, prog: str, description: str = "", allow_remaining: bool = False, **kw):
    """The command's dataclass instances from ``argv`` (:class:`grit.arguments.ArgumentParser`)."""
    from grit.arguments import ArgumentParser

    parser = ArgumentParser(list(dataclass_types), prog=prog, description=description.replace("``", ""), **kw)
    return parser.parse(argv, allow_remaining=allow_remaining)


def dispatch(argv: list[str], group: str, commands: dict) -> int:
    """Run ``grit GROUP SUBCOMMAND ...``: ``commands`` maps a name to (one-line help, main(argv))."""
    listing = "\n".join(f"  {name:<8} {text}" for name, (text, _) in commands.items())
    if argv and argv[0] in ("-h", "--help"):
        print(f"usage: grit {group} {{{','.join(commands)}}} [--field value ...]\n\ncommands:\n{listing}")
        return 0
    if not argv or argv[0] not in commands:
        from grit.config import closest

        given = f"unknown command {argv[0]!r}{closest(argv[0], commands)}" if argv else "give a command"
        raise UsageError(f"{given} (grit {group} takes {', '.join(commands)}; see grit {group} --help)")
    try:
        return commands[argv[0]][1](argv[1:])
    except Exception as e:  # errors name the subcommand (grit.cli.main prints them)
        e.prog = f"grit {group} {argv[0]}"
        raise
