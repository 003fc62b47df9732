"""Reading a JSONL file line by line, and the whole-file mistakes named once rather than per line: a folder, an image
or UTF-16 text given as JSONL, a JSON array or indented JSON, an empty file; a line that is not UTF-8 or not JSON, or
sets one key twice, is named with its number."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from grit.data.schema import DataError, DataProblem, relative_hint

_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"PK\x03\x04": "a zip",
    b"\x1f\x8b": "gzip-compressed",
}


def _binary_kind(path: Path) -> str | None:
    """What a file given as JSONL is when it is not UTF-8 text ("a PNG image", "a binary file", "UTF-16 text"),
    or None."""
    with path.open("rb") as f:
        head = f.read(1024)
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # a byte-order mark of UTF-16 text
        return "UTF-16 text"
    return "a binary file" if b"\x00" in head else None


_JQ_FIX = "write one JSON object per line, e.g. with jq -c '.[]' FILE > FILE.jsonl for an array"


def _json_not_jsonl(path: Path) -> str | None:
    """What a file written as one JSON document holds ("a JSON array of 20 items", "one JSON object written over
    several lines"), or None when its first line can be JSONL."""
    with path.open("rb") as f:
        first = f.readline().removeprefix(b"\xef\xbb\xbf").strip()  # a UTF-8 byte-order mark is not content
    if first == b"{":  # an object whose first line holds only its brace: indented JSON
        return "one JSON object written over several lines"
    if not first.startswith(b"["):
        return None
    try:
        whole = json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        return "a JSON array" if first == b"[" else None
    return f"a JSON array of {len(whole)} items" if isinstance(whole, list) else None


class _DuplicateKey(ValueError):
    """A JSON object that names one key twice (``json`` would keep the last value silently)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen.add(key)
    return dict(pairs)


def _plain(path: Path) -> Path:
    """Where a compressed file's text could go: ``x.jsonl.gz`` -> ``x.jsonl``, ``x.jsonl`` -> ``x.plain.jsonl``."""
    return path.with_suffix("") if path.suffix == ".gz" else path.with_name(f"{path.stem}.plain{path.suffix}")


def jsonl_records(path: Path, what: str = "records"):
    """``(line number, record, None)`` per non-blank line of a JSONL file, or ``(line, None, DataProblem)`` for a
    line that is not UTF-8 or not JSON. A UTF-8 byte-order mark is accepted. A missing file, a folder or a file
    without a line raises :class:`DataError` naming the file."""
    if path.is_dir():
        raise DataError([DataProblem(str(path), 0, None, "is a folder, not a JSONL file", "pass a .jsonl file in it")])
    if path.exists() and not path.is_file():  # a device, a pipe
        raise DataError([DataProblem(str(path), 0, None, "is not a regular file", "pass a .jsonl file")])
    if not path.is_file():
        raise DataError([DataProblem(str(path), 0, None, "file not found", f"check the path{relative_hint(path)}")])
    if not os.access(path, os.R_OK):
        raise DataError(
            [DataProblem(str(path), 0, None, "cannot be read (permission denied)", "check its permissions")]
        )
    kind = _binary_kind(path)
    if kind == "UTF-16 text":
        raise DataError([DataProblem(str(path), 0, None, "is UTF-16 text, not UTF-8", "save the file as UTF-8")])
    if kind == "gzip-compressed":
        raise DataError(
            [
                DataProblem(
                    str(path), 0, None, "is gzip-compressed", f"decompress it first: gunzip -c {path} > {_plain(path)}"
                )
            ]
        )
    if kind:  # one problem for the file, not one per "line" of an image
        raise DataError(
            [DataProblem(str(path), 0, None, f"is {kind}, not a JSONL file", f"pass the .jsonl file of {what}")]
        )
    shape = _json_not_jsonl(path)
    if shape:  # one problem for the file, not one per line of an indented document
        raise DataError([DataProblem(str(path), 0, None, f"holds {shape}, not JSONL (one object per line)", _JQ_FIX)])
    any_line = False
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as e:
                message = f"not UTF-8 text (byte 0x{raw[e.start]:02x} at byte {e.start + 1} of the line)"
                yield line_no, None, DataProblem(str(path), line_no, None, message, "save the file as UTF-8")
                any_line = True
                continue
            if not line.strip():
                continue
            any_line = True
            line = line.rstrip("\r\n")
            try:
                yield line_no, json.loads(line, object_pairs_hook=_unique_keys), None
            except json.JSONDecodeError as e:
                fix = "write each JSON object whole on one line"  # when the line ends inside it: cut off, or split
                if e.msg.startswith("Unterminated string"):
                    message = f"not valid JSON: the line ends inside the string opened at column {e.colno}"
                elif e.pos >= len(line.rstrip()):
                    message = f"not valid JSON: the line ends before its object closes ({e.msg} at its end)"
                else:
                    message, fix = f"not valid JSON: {e.msg} at column {e.colno}", "one JSON object per line"
                yield line_no, None, DataProblem(str(path), line_no, None, message, fix)
            except _DuplicateKey as e:
                message = "is set twice on the line (JSON keeps only the last value)"
                yield line_no, None, DataProblem(str(path), line_no, str(e), message, "keep one of the two")
            except ValueError as e:  # e.g. an integer of more than 4300 digits
                message = f"a value cannot be read ({str(e).split(';')[0]})"
                yield line_no, None, DataProblem(str(path), line_no, None, message, "write long numbers as text")
            except RecursionError:
                message = "nested too deeply"
                yield line_no, None, DataProblem(str(path), line_no, None, message, "one flat JSON object per line")
    if not any_line:
        raise DataError(
            [
                DataProblem(
                    str(path),
                    0,
                    None,
                    f"the file is empty: no {what} to read",
                    "give a file with one JSON object per line",
                )
            ]
        )
