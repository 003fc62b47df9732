"""The command line of every command: ``--config FILE`` (YAML) and ``--field value`` flags over the options'
dataclasses (:mod:`grit.config`), on transformers' ``HfArgumentParser`` as TRL's ``TrlParser`` is. A config file
sets fields, flags override it, and every mistake (an unknown key or flag, a wrong type, a bad choice) raises
:class:`grit.config.ConfigError` naming the file, the field and the fix.

>>> from dataclasses import dataclass, field
>>> @dataclass
... class Example:
...     n_eval: int = field(default=400, metadata={"help": "questions evaluated", "min": 1})
...     prompt: str = field(default="grounded", metadata={"help": "prompt kind", "choices": ("grounded", "direct")})
>>> ArgumentParser([Example], prog="grit example").parse(["--n_eval", "12", "--prompt", "direct"])
(Example(n_eval=12, prompt='direct'),)
>>> ArgumentParser([Example], prog="grit example").parse(["--n_evl", "12"])
Traceback (most recent call last):
...
grit.config.ConfigError: unknown option --n_evl; did you mean --n_eval? (see grit example --help)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path

from transformers import HfArgumentParser

from grit.config import (
    ConfigError,
    choices_text,
    closest,
    duplicate_keys,
    field_problems,
    key_lines,
    listed,
    load_yaml,
    range_problems,
)

# Field metadata grit reads itself; the rest (help, nargs, metavar, ...) goes to argparse as HfArgumentParser does.
GRIT_METADATA = ("choices", "min", "max", "positional", "aliases")
HELP_FLAGS = ("-h", "--help", "--help-all")


def _yaml_mapping(text: str) -> dict:
    """A mapping field's flag value, written as YAML: ``--task_mix '{grounding: 2, direct: 1}'``."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise argparse.ArgumentTypeError(f"not valid YAML: {text!r}") from e
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a mapping such as '{{name: 1, other: 2}}', got {text!r}")
    if twice := duplicate_keys(text):  # YAML keeps the last silently, as a config file would
        names = ", ".join(t.split(" (")[0] for t in twice)
        raise argparse.ArgumentTypeError(f"{names} set twice in {text!r}; keep one")
    return value


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help with each field's default, unless it is empty or the help already says it."""

    def __init__(self, prog: str):
        super().__init__(prog, max_help_position=36)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        empty = action.default is None or action.default is False or action.default in ([], "", argparse.SUPPRESS)
        if "default" in text or empty or action.nargs == 0:
            return text
        return f"{text} (default: %(default)s)".strip()


def field_default(f: dataclasses.Field) -> typing.Any:
    """A dataclass field's default value (its factory's product where it has one)."""
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def split_config(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """The first ``--config FILE`` (or ``--config=FILE``) of ``argv`` ("" when it names no file, None when there is
    none), and the other arguments.

    >>> split_config(["--seed", "1", "--config", "r.yaml"]), split_config(["--config=r.yaml"]), split_config([])
    (('r.yaml', ['--seed', '1']), ('r.yaml', []), (None, []))
    """
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == "--config":
            return (argv[i + 1] if i + 1 < len(argv) else ""), argv[:i] + argv[i + 2 :]
        if arg.startswith("--config="):
            return arg.partition("=")[2], argv[:i] + argv[i + 1 :]
    return None, argv


class ArgumentParser(HfArgumentParser):
    """``HfArgumentParser`` that reads ``--config FILE``, checks keys, types and choices, shows each flag once
    (the field's name; the dashed spelling is accepted as an alias) and raises :class:`ConfigError` instead of
    exiting. ``brief``: a dataclass type -> the few of its fields ``--help`` shows (``--help-all`` shows all).
    ``env``: a config file's ``env:`` mapping sets environment variables, as TRL's recipes do. ``ranges``: ``name ->
    (min, max)`` of fields whose metadata is not grit's (TRL's), checked before their dataclass is built."""

    def __init__(
        self,
        dataclass_types: Sequence[type],
        prog: str,
        usage: str | None = None,
        description: str | None = None,
        epilog: str | None = None,
        brief: dict[type, Sequence[str]] | None = None,
        env: bool = False,
        ranges: dict[str, tuple[float | None, float | None]] | None = None,
    ):
        self.brief, self.env, self.aliases, self.ranges = dict(brief or {}), env, {}, dict(ranges or {})
        self.groups: dict[str, type] = {}
        self.config_where: dict[str, str] = {}  # a config file's key that no flag overrode -> "FILE:LINE"
        super().__init__(
            list(dataclass_types),
            prog=prog,
            usage=usage,
            description=description,
            epilog=epilog,
            add_help=False,
            allow_abbrev=False,  # a misspelt prefix must not silently pick a field
            formatter_class=HelpFormatter,
        )
        first = len(self._actions)
        self.add_argument("-h", "--help", action="store_true", help="show this help and exit")
        if self.brief:
            self.add_argument("--help-all", action="store_true", help="show every field and exit")
        self.add_argument("--config", metavar="FILE", help="YAML file of fields; flags given with it override it")
        self._actions[:] = self._actions[first:] + self._actions[:first]  # usage: help and --config first

    def _add_dataclass_arguments(self, dtype: type) -> None:
        group = self.add_argument_group(f"{dtype.__name__} fields")
        hints = typing.get_type_hints(dtype)
        for f in dataclasses.fields(dtype):
            if not f.init:
                continue
            f = _copy_field(f, hints[f.name])
            self.groups[f.name] = dtype
            own = {k: f.metadata[k] for k in GRIT_METADATA if k in f.metadata}
            f.metadata = types.MappingProxyType({k: v for k, v in f.metadata.items() if k not in GRIT_METADATA})
            if own.get("positional"):
                group.add_argument(f.name, metavar=f.name.upper(), help=f.metadata.get("help"))
                continue
            before = len(self._actions)
            if f.type is dict or typing.get_origin(f.type) is dict:
                group.add_argument(
                    f"--{f.name}",
                    type=_yaml_mapping,
                    default=field_default(f),
                    metavar="YAML",
                    help=f.metadata.get("help"),
                )
            else:
                self._parse_dataclass_field(group, f)
            for action in self._actions[before:]:
                if action.nargs == "+" and "nargs" in f.metadata:  # HfArgumentParser gives every list "+"
                    action.nargs = f.metadata["nargs"]
                self._tidy(action, own.get("choices"), f)
            for alias in own.get("aliases", ()):
                self.aliases[alias] = f"--{f.name}"

    def _tidy(self, action: argparse.Action, choices, f: dataclasses.Field) -> None:
        """One spelling per flag in help (the dashed one becomes a silent alias); choices shown, checked later."""
        if isinstance(action, argparse._StoreFalseAction):  # HfArgumentParser's --no_FIELD of a bool that is True
            action.help = f"the same as --{action.dest} false"
        for option in [o for o in action.option_strings if "-" in o[2:]]:
            action.option_strings.remove(option)
            del self._option_string_actions[option]
            self.aliases[option] = "--" + option[2:].replace("-", "_")
        if choices is not None and action.nargs in ("+", "*"):  # checked by field_problems, naming the field
            action.metavar = "NAME"
            action.help = f"{action.help or ''} (any of {choices_text(choices)})".strip()
        elif choices is not None:
            action.metavar = "{" + ",".join(str(c) for c in choices) + "}"
        elif action.metavar is None and action.choices is None and action.nargs != 0:
            base = f.type
            if typing.get_origin(base) in (typing.Union, types.UnionType):
                base = next((a for a in typing.get_args(base) if a is not type(None)), str)
            if typing.get_origin(base) is list:
                base = typing.get_args(base)[0] if typing.get_args(base) else str
            action.metavar = {int: "INT", float: "FLOAT", bool: "BOOL"}.get(base, "TEXT")

    def error(self, message: str) -> typing.NoReturn:
        message = re.sub(r"^argument (--?[\w-]+)(/[\w/-]+)?: ", r"\1: ", message)
        message = re.sub(
            r"Truthy value expected: got (.*) but expected .*", r"expected true or false, got '\1'", message
        )
        message = re.sub(r"invalid (\w+) value: ", r"expected \1, got ", message)
        raise ConfigError(message)

    def format_help(self, everything: bool = True) -> str:
        hidden = []
        if not everything:
            for action in self._actions:
                dtype = self.groups.get(action.dest)
                if dtype in self.brief:
                    hidden.append((action, action.help))
                    shown = action.dest in self.brief[dtype] and not action.option_strings[0].startswith("--no_")
                    action.help = _first_sentence(action.help or "") if shown else argparse.SUPPRESS
        for group in self._action_groups:  # name the shown subset in the group's title
            dtype = next((self.groups[a.dest] for a in group._group_actions if a.dest in self.groups), None)
            if dtype in self.brief:
                group.title = f"{dtype.__name__} fields" + ("" if everything else " (the most used; --help-all)")
        try:
            return super().format_help()
        finally:
            for action, text in hidden:
                action.help = text

    def _normalise(self, argv: list[str]) -> list[str]:
        out = []
        for arg in argv:
            name, eq, value = arg.partition("=")
            if name.startswith("--") and name not in self._option_string_actions and name in self.aliases:
                arg = self.aliases[name] + eq + value
            out.append(arg)
        return out

    def parse(self, argv: Sequence[str], allow_remaining: bool = False) -> tuple:
        """The dataclass instances (and, with ``allow_remaining``, the list of arguments no field took).

        ``--help`` prints the help and raises ``SystemExit(0)``, as argparse does."""
        argv = list(argv)
        if any(a in HELP_FLAGS for a in argv):
            print(self.format_help(everything="--help-all" in argv or not self.brief))
            raise SystemExit(0)
        argv = self._normalise(argv)
        if sum(a == "--config" or a.startswith("--config=") for a in argv) > 1:
            raise ConfigError("--config: give one config file (fields given as flags override it)")
        self._refuse_repeats(argv)
        path, argv = split_config(argv)
        self.config_where = {}
        if path is not None:
            if not path:
                raise ConfigError("--config: give a YAML file")
            self._apply_config(path)
            given = {a[2:].partition("=")[0].replace("-", "_") for a in argv if a.startswith("--")}
            self.config_where = {k: w for k, w in self.config_where.items() if k not in given}  # a flag overrode it
        try:
            namespace, remaining = self.parse_known_args(argv)
        except ConfigError:  # a missing required field; a misspelt flag may be why, so name that first
            unknown = self._unknown_ignoring_required(argv)
            if unknown and not allow_remaining:
                raise ConfigError(self.unknown_message(unknown)) from None
            raise
        for name in ("help", "help_all", "config"):
            namespace.__dict__.pop(name, None)
        if remaining and not allow_remaining:
            raise ConfigError(self.unknown_message(remaining))
        values = vars(namespace)
        problems = [
            p for k, (lo, hi) in self.ranges.items() if k in values for p in range_problems(k, [values[k]], lo, hi)
        ]
        if problems:
            raise ConfigError(listed(self._located(problems)))
        outputs = []
        for dtype in self.dataclass_types:
            keys = {f.name for f in dataclasses.fields(dtype) if f.init}
            try:
                obj = dtype(**{k: v for k, v in vars(namespace).items() if k in keys})
            except ValueError as e:  # a dataclass's own checks (__post_init__)
                head, *rest = str(e).split("\n  ")
                if rest:  # check_fields' "N problems:" listing
                    raise ConfigError("\n  ".join([head, *self._located(rest)])) from e
                raise ConfigError(self._located([head])[0]) from e
            problems = field_problems(obj)
            if problems:
                raise ConfigError(listed(self._located(problems)))
            outputs.append(obj)
        return (*outputs, remaining) if allow_remaining else tuple(outputs)

    def _refuse_repeats(self, argv: list[str]) -> None:
        """A field given twice on the command line is refused, as a key set twice in a config file is (argparse
        would keep the last silently)."""
        seen: dict[str, str] = {}
        for arg in argv:
            action = self._option_string_actions.get(arg.partition("=")[0]) if arg.startswith("--") else None
            if action is None or action.dest in ("help", "help_all", "config"):
                continue
            flag = arg.partition("=")[0]
            if action.dest in seen:
                same = "" if seen[action.dest] == flag else f" (as {seen[action.dest]} and {flag})"
                raise ConfigError(f"--{action.dest} is given twice{same}; give it once")
            seen[action.dest] = flag

    def _located(self, problems: list[str]) -> list[str]:
        """``problems`` (``"field: ..."``), each prefixed with the config file's ``FILE:LINE`` where the file set
        the value (a flag that overrode it is named by its own flag)."""
        where = self.config_where
        return [f"{where[p.split(':')[0]]}: {p}" if p.split(":")[0] in where else p for p in problems]

    def _unknown_ignoring_required(self, argv: list[str]) -> list[str]:
        required = [a for a in self._actions if a.required]
        for action in required:
            action.required = False
        try:
            return self.parse_known_args(argv)[1]
        except ConfigError:
            return []
        finally:
            for action in required:
                action.required = True

    def flags(self) -> set[str]:
        """Every ``--flag`` this parser takes, aliases included."""
        return {o for o in self._option_string_actions if o.startswith("--")} | set(self.aliases)

    def unknown_message(self, remaining: Sequence[str], more_flags: Iterable[str] = ()) -> str:
        """One clear message for arguments no field took, with the closest flag (of this parser or ``more_flags``)."""
        flags = [a.partition("=")[0] for a in remaining if a.startswith("-")]
        if not flags:
            return f"unexpected argument(s) {' '.join(remaining)}; options are --field value (see {self.prog} --help)"
        known = sorted({o for o in self._option_string_actions if o.startswith("--")} | set(more_flags))
        return "; ".join(_unknown_flag(f, known) for f in flags) + f" (see {self.prog} --help)"

    def _apply_config(self, path: str) -> None:
        config = load_yaml(path, self.dataclass_types, ("env",) if self.env else ())
        env = config.pop("env", {})
        if not isinstance(env, dict):
            raise ConfigError(f"{path}: env: give a mapping of environment variable: value")
        for key, value in env.items():
            os.environ[str(key)] = str(value)
        lines = key_lines(Path(path).read_text(encoding="utf-8-sig"))
        self.config_where = {k: f"{path}:{lines[k]}" if k in lines else path for k in config}
        problems = []
        for action in self._actions:
            if action.dest in config:
                action.required = False
            if action.dest in config and action.choices is not None:  # argparse checks a flag's, not a default's
                given = config[action.dest]
                named = [str(c) for c in action.choices]
                problems += [
                    f"{self.config_where[action.dest]}: {action.dest}: {v!r} is not one of {', '.join(named)}"
                    for v in (given if isinstance(given, list) else [given])
                    if str(v) not in named
                ]
        if problems:
            raise ConfigError(listed(problems))
        self.set_defaults(**config)


def _unknown_flag(flag: str, known: Sequence[str]) -> str:
    """``unknown option F`` and the flag meant: a short ``-o`` is read as the start of a long name (``--out``)."""
    if len(flag) == 2 and flag[0] == "-" and flag[1].isalpha():
        starting = [k for k in known if k.startswith(f"--{flag[1]}")]
        hint = f"; did you mean {' or '.join(starting[:3])}?" if 0 < len(starting) <= 3 else ""
        return f"unknown option {flag} (grit's options are long: --name value){hint}"
    return f"unknown option {flag}{closest('--' + flag[2:].replace('-', '_'), known)}"


def _first_sentence(text: str) -> str:
    return text.split(". ")[0].rstrip(".") + "." if text else text


def _copy_field(f: dataclasses.Field, resolved_type) -> dataclasses.Field:
    """A copy of a dataclass field with its type resolved (HfArgumentParser rewrites ``field.type`` in place)."""
    import copy

    f = copy.copy(f)
    f.type = resolved_type
    return f
