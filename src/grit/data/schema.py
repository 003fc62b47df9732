"""The one sample type of grit, and the problems a data file can have.

A sample is an image-question-answer triplet with optional evidence boxes (original pixels), in the layout
of the paper's GRIT_data JSONL files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Sample:
    id: str
    image: str  # as written in the file
    image_path: Path | None  # resolved against the image root; None when images are not at hand
    question: str
    answer: str
    answer_type: str  # count | yesno | choice | open
    width: int
    height: int
    evidence_boxes: tuple[tuple[float, float, float, float], ...] = ()
    dataset: str = ""
    split: str = ""
    source: str = ""  # file:line it came from
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_record(self) -> dict[str, Any]:
        """The GRIT_data layout of this sample (plus ``id`` and ``answer_type``), ready for JSONL."""
        record = {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "answer_type": self.answer_type,
            "image": self.image,
            "width": self.width,
            "height": self.height,
            "bboxs": [list(b) for b in self.evidence_boxes],
            "dataset": self.dataset,
            "split": self.split,
        }
        record.update(self.extra)
        return record


def relative_hint(path: str | Path) -> str:
    """For a message about a path that does not exist: where a relative path was looked for, and the rule."""
    if Path(path).expanduser().is_absolute():
        return ""
    return f" (relative paths, in recipes too, start at the working directory {Path.cwd()})"


@dataclass(frozen=True)
class DataProblem:
    """One problem in a data file, said so that a person can fix it."""

    file: str
    line: int
    field: str | None
    message: str
    fix: str

    def __str__(self) -> str:
        where = (f"{self.file}:{self.line}" if self.line else self.file) + (
            f": field {self.field!r}" if self.field else ""
        )
        return f"{where}: {self.message}. Fix: {self.fix}"


class DataError(ValueError):
    """A data file cannot be used as it is; ``problems`` lists what was found."""

    def __init__(self, problems: list[DataProblem]):
        self.problems = problems
        head = str(problems[0]) if problems else "invalid data"
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(head + more)
