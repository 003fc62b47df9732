"""Read GRIT_data-layout JSONL files into validated :class:`~grit.data.schema.Sample` objects.

Fields (the paper's GRIT_data layout): ``question``, ``answer``, ``image`` (a path relative to the image folder,
or absolute), ``width``, ``height``, ``bboxs`` (evidence boxes ``[x1, y1, x2, y2]`` in original pixels, may be
empty), ``dataset``, ``split`` (some files say ``key_words`` instead). Also accepted: ``id``, ``boxes`` or
``evidence_boxes`` for ``bboxs``, ``answer_type``. Other fields are kept in ``Sample.extra``.

Every problem is reported with file, line and field. By default the first problem stops the load; with
``skip_invalid`` bad lines are skipped and every skip is reported; a sample is never dropped silently.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grit.answers import ANSWER_TYPES, answer_type_problem, extract_options, infer_answer_type, parse_choice
from grit.config import finite_number
from grit.data.images import MAX_IMAGE_PIXELS, ImageProblem, check_image, resolve_image, stored_size
from grit.data.jsonl import jsonl_records
from grit.data.schema import DataError, DataProblem, Sample, relative_hint

logger = logging.getLogger(__name__)

KNOWN_FIELDS = {
    "id",
    "question",
    "answer",
    "answer_type",
    "image",
    "width",
    "height",
    "bboxs",
    "boxes",
    "evidence_boxes",
    "dataset",
    "split",
    "key_words",
}
BOX_TOLERANCE = 1.0  # pixels: evidence boxes may touch the border after rounding
_OPTION_COLUMN_RE = re.compile(r"[A-J]|(?:choice|option)_?[a-jA-J]")  # MMBench's "A".."D", SEED-Bench's "choice_a"..


@dataclass
class LoadResult:
    samples: list[Sample]
    problems: list[DataProblem] = field(default_factory=list)
    skipped_lines: list[int] = field(default_factory=list)

    def summary(self) -> str:
        if not self.skipped_lines:
            return f"{len(self.samples)} samples, no problems"
        reasons = Counter(f"field {p.field!r}" if p.field else "the line itself" for p in self.problems)
        why = "; ".join(f"{n} problem(s) in {reason}" for reason, n in reasons.most_common())
        return f"{len(self.samples)} samples; skipped {len(self.skipped_lines)} invalid lines ({why})"


class _Line:
    """Collects the problems of one JSONL line."""

    def __init__(self, file: str, line: int):
        self.file, self.line, self.problems = file, line, []

    def add(self, field_name: str | None, message: str, fix: str) -> None:
        self.problems.append(DataProblem(self.file, self.line, field_name, message, fix))


def shortened(value: Any, width: int = 60) -> str:
    """``repr(value)`` cut to ``width`` characters (a box of a 400-digit number stays readable in a message).

    >>> shortened([1, 2, 3, 10**70])
    '[1, 2, 3, 1000000000000000000000000000000000000000000... (82 characters)'
    """
    text = repr(value)
    return text if len(text) <= width else f"{text[: width - 7]}... ({len(text)} characters)"


def _positive_int(value: Any) -> int | None:
    if not finite_number(value):
        return None
    return int(value) if value > 0 and float(value).is_integer() else None


# Names a data set may give its evidence boxes that grit does not read: with none of its own box fields, a line
# holding one of these is refused rather than loaded without boxes.
BOX_LOOKALIKES = ("bbox", "bboxes", "bbox_2d", "bboxes_2d", "box", "evidence_box", "gt_boxes", "gt_bboxes")


def _boxes(record: dict, check: _Line) -> tuple[str | None, list]:
    given = [k for k in ("bboxs", "boxes", "evidence_boxes") if k in record]
    if len(given) > 1:  # which one holds the evidence is the user's call, never a silent pick
        check.add(given[1], f"given with {given[0]!r}", f"keep one of {', '.join(map(repr, given))} per line")
    name = given[0] if given else None
    lookalikes = [k for k in BOX_LOOKALIKES if k in record]
    if not given and lookalikes:  # a misspelt box field would leave every sample without its evidence boxes
        check.add(
            lookalikes[0],
            "is not a box field grit reads",
            "rename it to 'bboxs' (GRIT_data), 'boxes' or 'evidence_boxes'",
        )
    raw = record.get(name) if name else None
    if raw is None:
        return name, []
    if not isinstance(raw, list):
        check.add(name, f"boxes must be a list, got {type(raw).__name__}", "write a list of [x1, y1, x2, y2] lists")
        return name, []
    boxes = []
    for i, b in enumerate(raw):
        if not (isinstance(b, list) and len(b) == 4 and all(map(finite_number, b))):
            check.add(name, f"box {i} is {shortened(b)}, not four numbers", "write each box as [x1, y1, x2, y2]")
            continue
        if b[2] <= b[0] or b[3] <= b[1]:
            check.add(name, f"box {i} {b} has x2 <= x1 or y2 <= y1", "write boxes as [x1, y1, x2, y2], top-left first")
            continue
        boxes.append(tuple(float(v) for v in b))
    return name, boxes


def _text_field(record: dict, name: str, check: _Line) -> str | None:
    if name not in record:
        check.add(name, "missing required field", f"add {name!r} to every line")
        return None
    value = record[name]
    if value is None:
        check.add(name, "is null", f"give the {name} as text, or drop the line")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        check.add(name, f"must be text, got {type(value).__name__}", f"write {name!r} as a string")
        return None
    if name == "question" and not isinstance(value, str):  # an answer may be a bare number; a question is words
        check.add(name, f"is the number {value}, not a question", "write the question as text (a column shifted?)")
        return None
    if isinstance(value, float) and not math.isfinite(value):  # json reads NaN and Infinity, as pandas writes a gap
        check.add(
            name, f"is {json.dumps(value)}, not text (a missing value?)", f"give the {name} as text, or drop the line"
        )
        return None
    text = str(value).strip()
    if not text:
        check.add(name, "empty", f"give a non-empty {name!r} or drop the line")
        return None
    if half := _half(text):  # a lone surrogate from a JSON escape such as "\ud800": not text
        check.add(name, f"holds {half!a}, half of a character, not text", "fix the \\u escape")
        return None
    return text


def _half(value: Any) -> str | None:
    """The first lone surrogate (half of a character, from a JSON escape such as "\\ud800") in ``value``'s text,
    keys and items included, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            return value[e.start]
        return None
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value if isinstance(value, list) else []
    return next((half for item in items if (half := _half(item))), None)


def _image_size(record: dict, root: Path, check: _Line, check_images: bool, max_pixels: int):
    width, height = _positive_int(record.get("width")), _positive_int(record.get("height"))
    for name, value in (("width", width), ("height", height)):
        if record.get(name) is not None and value is None:
            check.add(
                name, f"must be a positive whole number, got {shortened(record.get(name))}", f"fix {name!r} or drop it"
            )
    image = record.get("image")
    if not isinstance(image, str) or not image.strip():
        check.add(
            "image",
            "missing required field" if "image" not in record else f"must be a path, got {image!r}",
            "give the image path relative to the image folder",
        )
        return None, width, height
    try:
        path = resolve_image(image, root)
    except ImageProblem as e:
        check.add("image", e.message, e.fix)
        return None, width, height
    if not check_images:
        if width is None or height is None:
            check.add(
                "width",
                "width and height are needed when images are not read",
                "add them, or pass the image folder so the sizes are read from the files",
            )
        return path, width, height
    try:
        real_w, real_h = check_image(path, max_pixels)
    except ImageProblem as e:
        check.add("image", e.message, "check the image folder (--images) and the path" if e.missing else e.fix)
        return None, width, height
    if (width is not None and width != real_w) or (height is not None and height != real_h):
        if (width, height) == stored_size(path):
            check.add(
                "width",
                f"declared size {width}x{height} is the file's stored size, but its EXIF orientation turns it to "
                f"{real_w}x{real_h}, as viewers show it and as grit and training read it",
                f"give width {real_w} and height {real_h} with boxes in the upright picture, or save the image "
                "without the orientation tag (with its pixels turned, e.g. by PIL's ImageOps.exif_transpose)",
            )
        else:
            check.add(
                "width",
                f"declared size {width}x{height} disagrees with the file's {real_w}x{real_h}",
                "correct width/height (boxes are in original pixels of the file)",
            )
    return path, real_w, real_h


def _sample(
    record: Any, file: str, line: int, root: Path, check_images: bool, max_pixels: int
) -> tuple[Sample | None, list]:
    check = _Line(file, line)
    if not isinstance(record, dict):
        check.add(None, f"a line must be a JSON object, got {type(record).__name__}", "write one object per line")
        return None, check.problems
    question = _text_field(record, "question", check)
    answer = _text_field(record, "answer", check)
    halves = {  # in any other field, or a field's name: every output would fail to write it, after all the work
        name if not _half(name) else ascii(name): half
        for name, value in record.items()
        if name not in ("question", "answer") and (half := _half(name) or _half(value))
    }
    for name, half in halves.items():
        check.add(name, f"holds {half!a}, half of a character, not text", "fix the \\u escape")
    if "image" in halves:
        return None, check.problems
    path, width, height = _image_size(record, root, check, check_images, max_pixels)
    box_field, boxes = _boxes(record, check)
    if width and height:
        for i, b in enumerate(boxes):
            if (
                b[0] < -BOX_TOLERANCE
                or b[1] < -BOX_TOLERANCE
                or b[2] > width + BOX_TOLERANCE
                or b[3] > height + BOX_TOLERANCE
            ):
                check.add(
                    box_field,
                    f"box {i} {list(b)} lies outside the {width}x{height} image",
                    "boxes are in original pixels; fix or clip the box",
                )
    given_id = record.get("id")
    if given_id is not None and (isinstance(given_id, bool) or not isinstance(given_id, (str, int))):
        check.add(
            "id", f"is {shortened(given_id)}, not text or a whole number", "give each sample a text or number id"
        )
    elif isinstance(given_id, str) and not given_id.strip():
        check.add("id", "is empty", "give each sample a non-empty id, or drop the field to number the lines")
    answer_type = record.get("answer_type")
    if answer_type is not None and answer_type not in ANSWER_TYPES:
        check.add(
            "answer_type", f"unknown answer type {answer_type!r}", f"use one of {', '.join(ANSWER_TYPES)} or drop it"
        )
    elif answer_type is not None and answer and (problem := answer_type_problem(answer, answer_type)):
        check.add(
            "answer",
            f"{problem}, but answer_type is {answer_type}: no prediction could match",
            "fix the answer, or give the answer_type that fits it (open compares the text)",
        )
    options = extract_options(question) if question else {}
    options_fix = "write the options into the question: (A) red (B) blue, A: red, B: blue, or one 'A. red' per line"
    # Options in fields of their own (a list, or MMBench's A..D and SEED-Bench's choice_a.. columns) never reach the
    # prompt, and the answer would be checked as open text.
    columns = [k for k in record if k in ("options", "choices") or _OPTION_COLUMN_RE.fullmatch(k)]
    if columns and not options:
        check.add(
            columns[0],
            f"grit reads a question's options from its text, not from fields of their own ({', '.join(columns)})",
            options_fix,
        )
    if answer_type == "choice" and question and not options:
        check.add("answer_type", "choice, but the question lists no options grit can read", options_fix)
    elif answer_type == "choice" and answer and options and parse_choice(answer, options) is None:
        check.add(
            "answer",
            f"{answer!r} is none of the question's options ({', '.join(options)}): no prediction could match",
            "give the answer as an option's letter or text",
        )
    if check.problems:
        return None, check.problems
    split = record.get("split", record.get("key_words", ""))
    sample = Sample(
        id=str(record["id"]) if record.get("id") is not None else str(line),
        image=record["image"],
        image_path=path,
        question=question,
        answer=answer,
        answer_type=answer_type or infer_answer_type(answer, question),
        width=width,
        height=height,
        evidence_boxes=tuple(boxes),
        dataset=str(record.get("dataset") or Path(file).stem),
        split=str(split) if isinstance(split, (str, int)) else json.dumps(split),
        source=f"{file}:{line}",
        extra={k: v for k, v in record.items() if k not in KNOWN_FIELDS},
    )
    return sample, []


def read_samples(
    path: str | Path,
    image_root: str | Path | None = None,
    *,
    skip_invalid: bool = False,
    check_images: bool = True,
    max_image_pixels: int = MAX_IMAGE_PIXELS,
) -> LoadResult:
    """Read and validate a JSONL file. ``image_root`` defaults to the file's folder. Raises
    :class:`DataError` at the first problem unless ``skip_invalid``; then the result lists every problem."""
    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    if check_images and root.is_file():  # else every line would say its image is missing
        problem = DataProblem(
            str(root), 0, None, "is a file, given as the image folder (--images)", "give the folder the images are in"
        )
        raise DataError([problem])
    if check_images and not root.exists():  # else every line would say its image is missing, one by one
        problem = DataProblem(
            str(root),
            0,
            None,
            f"the image folder does not exist{relative_hint(root)}",
            "give the folder the images are in (--images), or leave it out to read them beside the data file",
        )
        raise DataError([problem])
    result = LoadResult([])
    seen: dict[str, int] = {}
    for line_no, record, problem in jsonl_records(path, "samples"):
        if problem is not None:
            problems, sample = [problem], None
        else:
            sample, problems = _sample(record, str(path), line_no, root, check_images, max_image_pixels)
        if sample is not None and sample.id in seen:
            problems = [
                DataProblem(
                    str(path),
                    line_no,
                    "id",
                    f"duplicate id {sample.id!r} (first on line {seen[sample.id]})",
                    "give every sample its own id",
                )
            ]
            sample = None
        if problems:
            if not skip_invalid:
                raise DataError(problems)
            result.problems.extend(problems)
            result.skipped_lines.append(line_no)
            continue
        seen[sample.id] = line_no
        result.samples.append(sample)
    return result


def load_samples(
    path: str | Path, image_root: str | Path | None = None, skipped: list[str] | None = None, **options: Any
) -> list[Sample]:
    """Read a JSONL file (see :func:`read_samples`); with ``skip_invalid=True`` a summary of what was skipped,
    and why, is logged as a warning, and appended to ``skipped`` (for a run's record) when given."""
    result = read_samples(path, image_root, **options)
    if result.skipped_lines and skipped is not None:
        lines = ", ".join(map(str, result.skipped_lines[:20])) + (" ..." if len(result.skipped_lines) > 20 else "")
        skipped.append(f"{path}: {result.summary()}: lines {lines}")
    if not result.samples:
        raise DataError(
            [DataProblem(str(path), 0, None, "no valid samples (every line was skipped)", "fix the lines listed")]
            + result.problems
        )
    if result.skipped_lines:
        logger.warning("%s: %s", path, result.summary())
        for problem in result.problems:
            logger.warning("  %s", problem)
    return result.samples
