"""What grit writes into an output folder, listed in one place, and ``--overwrite`` that starts such a folder clean.

``--overwrite`` removes only what grit itself writes there (the entries below) and refuses, naming them, when
the folder holds anything else: user data is never deleted (DESIGN.md rule 12). A pattern is a ``fnmatch`` name
of an entry of the folder; ``"images/<glob>"`` means a folder whose files must all match the glob, and
``"runs/**/<glob>"`` one whose files at any depth must (a folder named like one of grit's but holding other files
is the user's). Globs joined by ``|`` are alternatives. A file in :data:`OWN_TEXT` is grit's only if it holds its
text (a ``README.md`` that is not TRL's model card is the user's).

>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> (root / "log.jsonl").write_text('{"step": 5, "loss": 0.1}') and (root / "notes.txt").write_text("mine")
4
>>> (root / "metrics.json").write_text('{"my": "numbers"}')
17
>>> unknown_entries(root, TRAIN_OUTPUTS)
['metrics.json', 'notes.txt']
"""

from __future__ import annotations

import errno
import fnmatch
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

# A saved model's files (weights, config, tokenizer, processor, chat template, TRL's training arguments, PEFT's
# card), and a checkpoint's: the model's plus optimizer, scheduler, RNG and DeepSpeed states.
MODEL_FILES = "|".join(
    (
        "config.json",
        "generation_config.json",
        "preprocessor_config.json",
        "processor_config.json",
        "video_preprocessor_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.json",
        "chat_template.json",
        "*.index.json",
        "adapter_config.json",
        "grit_model.json",
        "trainer_state.json",
        "*.safetensors",
        "*.jinja",
        "training_args.bin",
        "merges.txt",
        "vocab.txt",
        "*.model",
        "README.md",
    )
)  # by name: a JSON file of the user's in grit's model folder (their own results, say) is theirs
CHECKPOINT_FILES = MODEL_FILES + "|*.pt|*.pth|*.bin|latest|zero_to_fp32.py"
# grit train's output_dir: TRL's checkpoints and model card, its TensorBoard logs (logging_dir defaults to
# output_dir/runs), grit's log file, trainer state, rollout pages, final model, plots, metrics and config.
TRAIN_OUTPUTS = (
    "checkpoint-[0-9]*/**/" + CHECKPOINT_FILES,
    "runs/**/events.out.tfevents.*",
    "README.md",
    "log.jsonl",
    "trainer_state.json",
    "rollouts/step-[0-9][0-9][0-9][0-9][0-9][0-9].html",
    "model/" + MODEL_FILES,
    "plots/rewards.png|reward_and_ties.png|chains.png",
    "completions/completions_[0-9]*.parquet",  # TRL's, with log_completions
    "metrics.json",
    "grit_train_config.json",
)
# Files grit's outputs share names with a user's: grit's hold this text (TRL's model card links TRL; grit train's
# metrics and config, TRL's trainer state and grit's log lines have these keys). An empty file is grit's too (a run
# stopped before it wrote a line): removing it loses nothing.
OWN_TEXT = {
    "README.md": "huggingface/trl",
    "metrics.json": '"log_history"',
    "trainer_state.json": '"global_step"',
    "grit_train_config.json": '"grit"',
    "log.jsonl": '{"step": ',
    "seeds.md": "| seed | base direct |",  # grit quickstart --seeds
    "seeds.json": '"gain_t_ci95"',
}

# grit eval --out: the files it writes into a folder that may hold others; with --overwrite it replaces one of them
# only where it holds grit eval's text (an empty one is grit's too).
EVAL_OWN_TEXT = {  # how each starts (a long first row or a long list of skipped lines puts the rest far back)
    "predictions.jsonl": '{"data": ',
    "metrics.json": '{\n  "info": {',
    "report.html": "<title>grit \u00b7 ",
}

# grit data shapes --out: the splits, GRIT-20, the base-model tasks and their images.
SHAPES_OUTPUTS = (
    "train.jsonl",
    "val.jsonl",
    "test.jsonl",
    "grit20.jsonl",
    "base_tasks.jsonl",
    "images/[a-z]*-[0-9][0-9][0-9][0-9][0-9][0-9].png",
)


class OutputFolderError(ValueError):
    """The folder holds files grit did not write; the message names them."""


def _own_text(path: Path, markers: dict[str, str] = OWN_TEXT) -> bool:
    """Whether a file that shares its name with a user's holds grit's text (see :data:`OWN_TEXT`)."""
    marker = markers.get(path.name)
    if marker is None:
        return True
    with path.open(encoding="utf-8", errors="replace") as f:
        head = f.read(65536)
    return not head or marker in head


def _unknown(entry: Path, patterns: Sequence[str]) -> list[str]:
    """The names under ``entry`` grit did not write: ``[]``, ``[entry]``, or the strangers in a folder of grit's."""
    for pattern in patterns:
        name, _, inner = pattern.partition("/")
        if not fnmatch.fnmatch(entry.name, name):
            continue
        if not inner:
            return [] if entry.is_file() and not entry.is_symlink() and _own_text(entry) else [entry.name]
        if entry.is_dir() and not entry.is_symlink():
            deep = inner.startswith("**/")
            globs = inner.removeprefix("**/").split("|")
            found = entry.rglob("*") if deep else entry.iterdir()
            return sorted(
                f"{entry.name}/{p.relative_to(entry).as_posix()}"
                for p in found
                if not (deep and p.is_dir() and not p.is_symlink())
                and not (p.is_file() and not p.is_symlink() and any(fnmatch.fnmatch(p.name, g) for g in globs))
            )
    return [entry.name]


def unknown_entries(folder: str | Path, patterns: Sequence[str]) -> list[str]:
    """Names of the entries of ``folder`` grit did not write (sorted; empty when it does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(name for e in folder.iterdir() for name in _unknown(e, patterns))


def foreign_files(folder: str | Path, markers: dict[str, str]) -> list[str]:
    """The files of ``folder`` named in ``markers`` that do not hold grit's text there (a user's file of that name,
    which writing grit's would replace), or that are not plain files."""
    folder = Path(folder)
    found = [folder / name for name in markers if (folder / name).exists() or (folder / name).is_symlink()]
    return [p.name for p in found if not p.is_file() or p.is_symlink() or not _own_text(p, markers)]


def check_clearable(folder: str | Path, patterns: Sequence[str], what: str = "output folder") -> None:
    """Raise :class:`OutputFolderError` unless ``folder`` is a folder (or nothing) holding only grit's entries."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"{what} {folder} is a file, not a folder; choose another path")
    unknown = unknown_entries(folder, patterns)
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise OutputFolderError(
            f"{what} {folder} holds files grit did not write ({shown}); --overwrite only replaces grit's own "
            "outputs, so move those away or choose another folder"
        )


def clear_outputs(folder: str | Path, patterns: Sequence[str], what: str = "output folder") -> list[str]:
    """Remove grit's own entries of ``folder`` (for ``--overwrite``); returns their names. Raises
    :class:`OutputFolderError` naming the other entries (:func:`check_clearable`), and then removes nothing."""
    folder = Path(folder)
    check_clearable(folder, patterns, what)
    removed = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        removed.append(entry.name)
    return removed


def unwritable(path: str | Path, folder: bool = True) -> str | None:
    """Why ``path`` (a folder to make and write in, or with ``folder`` false a file to write) cannot be written,
    found before any work starts: a file where a folder must be, or a place this user may not write in; else None.
    Writing is tried, not inferred from permission bits, which say nothing to root or of /proc, /sys and read-only
    mounts: a file opened for appending and closed unwritten, or a nameless file made and removed in the nearest
    folder that exists. Nothing of the user's changes.

    >>> unwritable("/proc/grit/out"), unwritable("/proc/version", folder=False)  # doctest: +ELLIPSIS
    ('cannot write in /proc (...)', 'cannot write /proc/version (...)')
    """
    target = Path(path).absolute()
    if not folder and target.exists():  # written in place: its folder's permissions do not matter
        if not target.is_file():  # a device or a pipe: opening a pipe with no reader would wait forever
            return None
        try:
            with open(target, "ab"):
                pass
        except OSError as e:
            return f"cannot write {target} ({_reason(e)})"
        return None
    where = target if folder else target.parent
    try:
        existing = next(p for p in (where, *where.parents) if p.exists())
    except PermissionError as e:
        return f"cannot look inside {e.filename} (permission denied)"
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        return f"cannot write in {existing} ({_reason(e)})"
    return None


def _reason(error: OSError) -> str:
    """Why a write failed, in words; "no such file" for a new file in a folder that exists (/proc, /sys): its file
    system takes no new files."""
    if error.errno == errno.ENOENT and error.filename and Path(error.filename).parent.is_dir():
        return "its file system takes no new files"
    return (error.strerror or type(error).__name__).lower()
