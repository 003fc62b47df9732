"""Options of every command as dataclasses: what a field allows, its checks, and YAML config files.

The way TRL scripts and open-r1 do it: a command's options are dataclass fields, defaults live only in the
dataclasses, and what a field allows sits in its metadata, ``{"help": ..., "choices": ..., "min": ...}``, checked in
one place, :func:`field_problems`. Every mistake (an unknown key, a wrong type, a bad choice) raises
:class:`ConfigError` naming the file, the line, the field and the fix. The command line over these dataclasses
(``--config FILE`` and ``--field value`` flags) is :mod:`grit.arguments`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A bad option, config file or field value: the message names where it is and what to do."""


def closest(name: str, known: Iterable[str], prefix: str = "") -> str:
    """``"; did you mean X?"`` for the nearest known name, or ``""``."""
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {prefix}{match[0]}?" if match else ""


def choices_text(choices) -> str:
    return ", ".join(str(c) for c in choices)


def field_problems(obj: Any, ranges: dict[str, tuple[float | None, float | None]] | None = None) -> list[str]:
    """What is wrong with a dataclass instance's values, by its fields' ``choices``, ``min`` and ``max`` metadata
    (list fields: every item). ``None`` passes where it is the field's default. ``ranges``: ``name -> (min, max)``
    for a class whose metadata is not ours (TRL's ``GRPOConfig``). The one place these are checked."""
    problems = []
    ranges = ranges or {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None and f.default is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        choices = f.metadata.get("choices")
        if choices is not None:
            problems += [
                f"{f.name}: {v!r} is not one of {choices_text(choices)}" for v in values if v not in tuple(choices)
            ]
            if isinstance(value, (list, tuple)):  # a list of choices names each once (a second would count twice)
                problems += [
                    f"{f.name}: {v!r} is given more than once; give it once"
                    for i, v in enumerate(values)
                    if v in values[:i] and v not in values[i + 1 :]
                ]
        problems += [
            f"{f.name}: {v!r} is not a finite number; give a number"
            for v in values
            if isinstance(v, float) and not math.isfinite(v) and v != f.default  # a default of inf stays allowed
        ]
        problems += range_problems(f.name, values, *ranges.get(f.name, (f.metadata.get("min"), f.metadata.get("max"))))
    return problems


def finite_number(value: Any) -> bool:
    """Whether ``value`` is an int or float (not a bool) that is finite as a float: a whole number past the float
    range (JSON and YAML read ``1`` followed by 400 zeros as an int) is not.

    >>> finite_number(3), finite_number(float("nan")), finite_number(10**400), finite_number(True)
    (True, False, False, False)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


class Above(float):
    """A minimum the value must exceed (a learning rate or a temperature of 0 is no setting): ``"min": Above(0)``."""

    def __repr__(self) -> str:
        return f"{float(self):g}"


def range_problems(name: str, values: list, low: float | None, high: float | None) -> list[str]:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if isinstance(low, Above):
        return [f"{name}: {v!r} must be above {low!r}" for v in numbers if v <= low] + range_problems(
            name, values, None, high
        )
    problems = [f"{name}: {v!r} is below the minimum {low}" for v in numbers if low is not None and v < low]
    return problems + [f"{name}: {v!r} is above the maximum {high}" for v in numbers if high is not None and v > high]


def check_fields(obj: Any) -> None:
    """Raise :class:`ConfigError` listing every :func:`field_problems` of ``obj`` (for ``__post_init__``)."""
    problems = field_problems(obj)
    if problems:
        raise ConfigError(listed(problems))


def listed(problems: list[str]) -> str:
    return problems[0] if len(problems) == 1 else f"{len(problems)} problems:\n  " + "\n  ".join(problems)


def _type_name(tp) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None))
    if origin in (list, tuple) and args:
        return f"a list of {_type_name(args[0])}"
    if origin is dict or tp is dict:
        return "a mapping"
    if tp is bool:
        return "true or false"
    if tp is str:
        return "text"
    return getattr(tp, "__name__", str(tp))


# The words a bool field takes as text, in a YAML file as on the command line (HfArgumentParser's string_to_bool)
TRUE_WORDS, FALSE_WORDS = ("yes", "true", "t", "y", "1"), ("no", "false", "f", "n", "0")


def _fits(value: Any, tp) -> bool:
    """Whether a YAML value fits a field's annotation (strings are converted as on the command line; types this
    does not know pass, and the dataclass checks them)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if tp is type(None):
        return value is None
    if origin in (list, tuple) or tp in (list, tuple):
        return isinstance(value, list) and (not args or all(_fits(v, args[0]) for v in value))
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    if origin is typing.Literal:
        return value in args
    if tp is bool:  # the words and numbers the command line takes as well
        if isinstance(value, str):
            return value.lower() in TRUE_WORDS + FALSE_WORDS
        return isinstance(value, bool) or (type(value) is int and value in (0, 1))
    if tp in (int, float):
        if isinstance(value, bool):
            return False
        if isinstance(value, str):
            try:
                tp(value)
            except ValueError:
                return False
            return True
        return isinstance(value, int) or (tp is float and isinstance(value, float))
    if tp is str:
        return isinstance(value, str)
    return True


def _from_text(value: Any, tp) -> Any:
    """A bool, int or float field's value given as text, converted as the command line converts it, and so each
    item of a list of them (YAML reads ``1e0`` as text); anything else as it is.

    >>> _from_text("no", bool), _from_text("1e-3", float), _from_text("7", int), _from_text("no", str)
    (False, 0.001, 7, 'no')
    >>> _from_text(["1e0", 1, "0.5"], list[float]), _from_text(["1e0"], list[float] | None)
    ([1.0, 1, 0.5], [1.0])
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType) and value is not None:  # the one member the value fits
        fitting = [a for a in args if a is not type(None) and _fits(value, a)]
        return _from_text(value, fitting[0]) if len(fitting) == 1 else value
    if isinstance(value, list) and origin in (list, tuple) and len(args) == 1:
        return [_from_text(v, args[0]) for v in value]
    if not isinstance(value, str) or tp not in (bool, int, float):
        return value
    if tp is bool:
        return value.lower() in TRUE_WORDS
    return tp(value)


def key_lines(text: str) -> dict[str, int]:
    """The line of each top-level key of a YAML mapping (for messages)."""
    import yaml

    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


def duplicate_keys(text: str) -> list[str]:
    """``"key (lines a and b)"`` for each key a YAML mapping of ``text``, at any depth, names twice (YAML loaders keep
    the last value silently)."""
    import yaml

    try:
        nodes = [yaml.compose(text)]
    except yaml.YAMLError:
        return []
    found = []
    while nodes:
        node = nodes.pop()
        if isinstance(node, yaml.MappingNode):
            first = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value in first:
                    found.append(f"{key.value} (lines {first[key.value]} and {key.start_mark.line + 1})")
                elif isinstance(key, yaml.ScalarNode):
                    first[key.value] = key.start_mark.line + 1
                nodes.append(value)
        elif isinstance(node, yaml.SequenceNode):
            nodes.extend(node.value)
    return found


def text_line(data: bytes, offset: int) -> int:
    """The 1-based line of byte ``offset`` in ``data``."""
    return data.count(b"\n", 0, offset) + 1


def load_yaml(path: str | Path, dataclass_types: Sequence[type], extra_keys: Sequence[str] = ()) -> dict[str, Any]:
    """The mapping in a YAML config file, every key a field of ``dataclass_types`` (or in ``extra_keys``) and every
    value of the field's type; else :class:`ConfigError` naming the file, line and key."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is accepted
    except IsADirectoryError as e:
        raise ConfigError(
            f"config file {path} is a folder; give a YAML file (grit recipes lists the shipped ones)"
        ) from e
    except OSError as e:
        raise ConfigError(f"config file {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        line = text_line(path.read_bytes(), e.start)
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{e.object[e.start]:02x}); save it as UTF-8") from e
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        where = str(e).replace('"<unicode string>"', str(path))  # YAML names the text it read, not the file
        raise ConfigError(f"{path}: not valid YAML: {where}") from e
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise ConfigError(f"{path}: a value cannot be read ({str(e).split(';')[0]})") from e
    if raw is None:
        raise ConfigError(f"config file {path} is empty: nothing to do; give field: value lines")
    twice = duplicate_keys(text)
    if twice:
        raise ConfigError(f"{path}: set twice: {', '.join(twice)}; keep one of each (YAML would keep the last)")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config file holds a mapping of field: value lines, not {type(raw).__name__}")
    hints, choices = {}, {}
    for dtype in dataclass_types:
        resolved = typing.get_type_hints(dtype)
        hints.update({f.name: resolved[f.name] for f in dataclasses.fields(dtype) if f.init})
        choices.update({f.name: f.metadata["choices"] for f in dataclasses.fields(dtype) if "choices" in f.metadata})
    lines, problems = key_lines(text), []
    for key, value in raw.items():
        where = f"{path}:{lines[key]}" if key in lines else str(path)
        if key in extra_keys:
            continue
        if key not in hints:
            problems.append(f"{where}: unknown field {key!r}{closest(str(key), hints)}")
        elif value is None and not _fits(value, hints[key]):  # `key:` with nothing after it
            wanted = f"one of {choices_text(choices[key])}" if key in choices else _type_name(hints[key])
            problems.append(f"{where}: {key}: has no value; give {wanted}, or drop the line")
        elif not _fits(value, hints[key]):
            as_list = f" (one item is a list too: {key}: [{value}])" if _fits([value], hints[key]) else ""
            problems.append(f"{where}: {key}: expected {_type_name(hints[key])}, got {value!r}{as_list}")
    unknown = [k for k in raw if k not in hints and k not in extra_keys]
    if len(unknown) >= 5 and 2 * len(unknown) > len(raw):  # mostly another command's fields: say that, not 30 lines
        shown = ", ".join(map(str, unknown[:4]))
        raise ConfigError(
            f"{path}: {len(unknown)} of its {len(raw)} fields are not this command's ({shown}, ...): it looks like "
            "another command's recipe; `grit recipes` names the command each shipped recipe is for"
        )
    if problems:
        raise ConfigError(listed(problems))
    # 1 and 0 for a bool field, as the command line takes them; read as the bool, never the int. A list's items given
    # as text (YAML reads `1e0` as a string) are converted as the command line converts each.
    return {
        k: bool(v) if _takes_bool(hints.get(k)) and v in (0, 1) and type(v) is int else _listed(v, hints.get(k))
        for k, v in raw.items()
    }


def _listed(value: Any, tp) -> Any:
    """A list value with its text items converted (:func:`_from_text`); any other value as it is."""
    return _from_text(value, tp) if isinstance(value, list) and tp is not None else value


def _takes_bool(tp) -> bool:
    """Whether a field's annotation is bool, alone or beside None."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return tp is bool or (typing.get_origin(tp) in (typing.Union, types.UnionType) and args == [bool])


def from_yaml(dataclass_type: type, path: str | Path, overrides: dict[str, Any] | None = None):
    """An instance of ``dataclass_type`` from a YAML file (checked as :func:`load_yaml` does) and overrides. A
    number or bool the file gives as text (``'1e-3'``, ``'yes'``) is read as the command line reads it."""
    hints = typing.get_type_hints(dataclass_type)
    values = {k: _from_text(v, hints.get(k)) for k, v in load_yaml(path, [dataclass_type]).items()}
    values.update(overrides or {})
    known = [f.name for f in dataclasses.fields(dataclass_type)]
    unknown = [k for k in values if k not in known]
    if unknown:
        raise ConfigError(f"unknown field {unknown[0]!r}{closest(unknown[0], known)}")
    obj = dataclass_type(**values)
    check_fields(obj)
    return obj
