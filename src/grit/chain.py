"""The one grammar of grounded reasoning chains: ``parse`` text into a :class:`Chain`, ``render`` one back.

A grounded chain is ``<think> text with boxes </think> <rethink> text </rethink> <answer> text </answer>``
(GRIT, arXiv 2505.15879, section 3). ``parse`` reads what real models write, leniently; ``Chain.strict`` says
whether it is exactly that format and nothing else, and only exact tags pass it.

- Boxes in every syntax models use (JSON ``bbox_2d``, bare lists and tuples, keys with bare numbers, InternVL,
  Qwen-VL, Qwen2-VL, DeepSeek-VL2, with or without special tokens): :mod:`grit.box_syntax` lists them. Points
  (``"point_2d": [x, y]``) are read apart, as ``Chain.points``, and never count as boxes.
- Tags written loosely (``< think>``, ``</ answer>``, ``<thinking>``, any case) open and close blocks where no
  exact tag does. An exact tag always wins, so one closed block of exact tags is read as before; ``Segment.opens``/
  ``closes`` count exact tags only and ``closed`` means closed by the exact tag, so the strict format and the
  rewards gated on it are unchanged. A self-closing ``<think/>`` opens nothing.
- With several ``<answer>`` blocks the answer is the first one outside every ``<think>``/``<rethink>`` block (one
  inside the reasoning is a draft), else the first. The strict format allows only one, so there it is that one.

Coordinates are kept as written (the model's frame); :mod:`grit.boxes` maps them to original pixels.
The paper's own box rule (four comma-separated integers anywhere) is :func:`paper_boxes`: the reference
rewards count boxes that way, and only they use it. Everything else (rewards, metrics, the viewer, the
baselines) reads chains through :func:`parse`.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from grit.box_syntax import scan

SEGMENTS = ("think", "rethink", "answer")
BOX_SYNTAXES = ("json", "list", "tuple", "numbered", "internvl", "qwen2")

_TAG_RE = re.compile(r"<\s*(/\s*)?(think|thinking|rethink|rethinking|answer)\s*(/\s*)?>", re.I)
# Where an answer with no closing tag ends, in raw decoded text: a special token (<|im_end|>, <|endoftext|>,
# <|eot_id|>; Gemma's <end_of_turn>, SmolVLM's <end_of_utterance>, </s>), a tool call, or a closing tag the length
# limit cut off (`</ans`).
_UNCLOSED_ANSWER_END_RE = re.compile(
    r"<\|[a-z][\w|]{1,39}\|>|<\s*/?\s*tool_call\s*>|<\s*(?:/\s*\w*)?$|<end_of_(?:turn|utterance)>|</s>"
)
_TAG_NAMES = {"think": "think", "thinking": "think", "rethink": "rethink", "rethinking": "rethink", "answer": "answer"}
_EXACT_TAGS = {f"<{slash}{name}>": (name, not slash) for name in SEGMENTS for slash in ("", "/")}
_PAPER_BOX_RE = re.compile(r"\b\d+,\s*\d+,\s*\d+,\s*\d+\b")


@dataclass(frozen=True)
class Segment:
    """One of the think / rethink / answer blocks: from its opening tag up to its closing tag.

    Exact tags (``<think>``, ``</think>``) are preferred to variants (``< think>``, ``</ think>``, ``<thinking>``):
    the block opens at the first exact opening tag, else at the first variant, and closes at the next exact
    closing tag, else at the next variant; so whenever the exact tags make a closed block, it is that block.
    ``start``/``end`` delimit the content (without tags); an unclosed block runs to the end of the text.
    ``closed``: ended by the exact closing tag. ``opens``/``closes`` count the exact tags in the whole text,
    as the strict format does; ``variant`` says that some tag of this block was written otherwise.
    """

    name: str
    present: bool = False
    closed: bool = False
    content: str = ""
    start: int = -1
    end: int = -1
    tag_start: int = -1
    tag_end: int = -1
    opens: int = 0
    closes: int = 0
    variant: bool = False


@dataclass(frozen=True)
class ChainBox:
    """A box as written in the chain, in the model's frame.

    ``coords`` holds the numbers read (four for a well-formed box; whatever was there otherwise). ``syntax`` is
    how it was written: one of :data:`BOX_SYNTAXES` but ``numbered`` (read as ``tuple``), ``keyed`` (a key and bare
    numbers) or ``deepseek``.
    ``well_formed`` means exactly four numbers, each in [0, :data:`grit.box_syntax.MAX_COORD`], in a closed
    list; geometry (x2 > x1, inside the image, not the whole image) is judged by :func:`grit.boxes.check_box`
    after mapping to pixels.
    """

    coords: tuple[float, ...]
    label: str | None
    segment: str | None
    start: int
    end: int
    syntax: str
    well_formed: bool
    integers: bool

    @property
    def box(self) -> tuple[float, float, float, float]:
        if not self.well_formed:
            raise ValueError(f"box {self.coords} at {self.start} is not well-formed")
        return self.coords  # type: ignore[return-value]


@dataclass(frozen=True)
class ChainPoint:
    """A point as written (``"point_2d": [x, y]``, ``"coordinate": [x, y]``), in the model's frame; never a box.
    ``well_formed`` means exactly two numbers in range, closed."""

    coords: tuple[float, ...]
    label: str | None
    segment: str | None
    start: int
    end: int
    syntax: str
    well_formed: bool


@dataclass(frozen=True)
class Chain:
    """A completion as read: its three blocks, every box and point written anywhere in it (in text order, each
    with the block it lies in), the answer (see the module docstring for which block counts), and the
    ``problems`` that keep it from the strict format."""

    text: str
    think: Segment
    rethink: Segment
    answer: Segment
    boxes: tuple[ChainBox, ...]
    answer_text: str | None
    in_order: bool
    problems: tuple[str, ...] = field(default=())
    points: tuple[ChainPoint, ...] = field(default=())

    @property
    def strict(self) -> bool:
        """The complete chain and nothing else: starts with ``<think>``, exactly one think, rethink and
        answer block, in that order, each closed, only whitespace between and after them, and a
        non-empty answer, all tags written exactly. ``problems`` says what is wrong otherwise."""
        return not self.problems

    def segment(self, name: str) -> Segment:
        return {"think": self.think, "rethink": self.rethink, "answer": self.answer}[name]

    def boxes_in(self, segment: str | None) -> tuple[ChainBox, ...]:
        return tuple(b for b in self.boxes if b.segment == segment)

    def without_boxes(self) -> str:
        """The chain text with every box's and point's coordinates removed (a labelled box leaves its label),
        whitespace tidied: what the paper's cross-modal test shows a judge."""
        out, last = [], 0
        spans: dict[tuple[int, int], list[str]] = {}
        for b in (*self.boxes, *self.points):
            spans.setdefault((b.start, b.end), [])
            if b.label and b.label not in spans[(b.start, b.end)]:
                spans[(b.start, b.end)].append(b.label)
        for (start, end), labels in sorted(spans.items()):
            if start >= last:
                out.append(self.text[last:start])
            out.append(", ".join(labels))
            last = max(last, end)
        out.append(self.text[last:])
        return re.sub(r"[ \t]+", " ", "".join(out)).strip()


class _Tag(NamedTuple):
    start: int
    end: int
    name: str
    opening: bool
    exact: bool


def _tags(text: str) -> list[_Tag]:
    tags = []
    for m in _TAG_RE.finditer(text):
        exact = _EXACT_TAGS.get(m.group())
        if exact:
            tags.append(_Tag(m.start(), m.end(), *exact, True))
        elif not m.group(3):  # <think/> is an empty block, neither opening nor closing one
            tags.append(_Tag(m.start(), m.end(), _TAG_NAMES[m.group(2).lower()], not m.group(1), False))
    return tags


def _blocks(text: str, names: Sequence[str], tags: list[_Tag]) -> list[tuple[int, int]]:
    """(start, end) of every block opened by a tag of ``names``, up to its next closing tag or the end, by start."""
    out = []
    for name in names:
        closes = [t.start for t in tags if t.name == name and not t.opening]
        for t in tags:
            if t.opening and t.name == name:
                i = bisect.bisect_left(closes, t.end)
                out.append((t.end, closes[i] if i < len(closes) else len(text)))
    return sorted(out)


def _first_outside(candidates: list[_Tag], blocks: list[tuple[int, int]]) -> _Tag | None:
    """The first tag no block holds (both in text order), by one sweep: ``reach`` is the furthest end so far."""
    reach, i = -1, 0
    for t in candidates:
        while i < len(blocks) and blocks[i][0] <= t.start:
            reach, i = max(reach, blocks[i][1]), i + 1
        if t.start >= reach:
            return t
    return None


def _segment(text: str, name: str, tags: list[_Tag], outer: list[tuple[int, int]] | None = None) -> Segment:
    opens = [t for t in tags if t.name == name and t.opening]
    closes = [t for t in tags if t.name == name and not t.opening]
    exact_opens, exact_closes = sum(t.exact for t in opens), sum(t.exact for t in closes)
    variant = exact_opens + exact_closes < len(opens) + len(closes)
    candidates = [t for t in opens if t.exact] or opens
    if not candidates:
        return Segment(name, opens=0, closes=exact_closes, variant=variant)
    first = (_first_outside(candidates, outer) if outer else None) or candidates[0]
    after = [c for c in closes if c.start >= first.end]
    close = next((c for c in after if c.exact), after[0] if after else None)
    end = close.start if close else len(text)
    if close is None and name == "answer" and (stop := _UNCLOSED_ANSWER_END_RE.search(text, first.end)):
        end = stop.start()  # an answer left open ends where the model's turn or a tool call begins
    return Segment(
        name,
        present=True,
        closed=close is not None and close.exact,
        content=text[first.end : end],
        start=first.end,
        end=end,
        tag_start=first.start,
        tag_end=close.end if close else len(text),
        opens=exact_opens,
        closes=exact_closes,
        variant=variant,
    )


def _in_order(think: Segment, rethink: Segment, answer: Segment) -> bool:
    return (
        think.closed
        and rethink.closed
        and answer.present
        and think.tag_end <= rethink.tag_start
        and rethink.tag_end <= answer.tag_start
    )


def _box_segment(start: int, segments: Sequence[Segment]) -> str | None:
    inside = [s for s in segments if s.present and s.start <= start < s.end]
    return max(inside, key=lambda s: s.start).name if inside else None


def _problems(text: str, think: Segment, rethink: Segment, answer: Segment) -> tuple[str, ...]:
    """What keeps the chain from the strict format. Only exact tags count: the rules need exactly one exact tag
    of each kind, and then each block is the one those tags make (see :class:`Segment`)."""
    problems = []
    if not text.lstrip().startswith("<think>"):
        problems.append("does not start with <think>")
    for seg in (think, rethink, answer):
        if seg.opens != 1 or seg.closes != 1:
            problems.append(f"<{seg.name}> x{seg.opens}, </{seg.name}> x{seg.closes} (need exactly one each)")
        elif not seg.closed:
            problems.append(f"<{seg.name}> is not closed")
    if not problems and not _in_order(think, rethink, answer):
        problems.append("blocks are not in the order think, rethink, answer")
    if not problems:
        gaps = (
            text[think.tag_end : rethink.tag_start],
            text[rethink.tag_end : answer.tag_start],
            text[answer.tag_end :],
        )
        if any(g.strip() for g in gaps):
            problems.append("text outside the think / rethink / answer blocks")
        if not answer.content.strip():
            problems.append("empty answer")
    return tuple(problems)


@functools.lru_cache(maxsize=16384)
def _parse(text: str) -> Chain:
    tags = _tags(text)
    think, rethink = _segment(text, "think", tags), _segment(text, "rethink", tags)
    answer = _segment(text, "answer", tags, _blocks(text, ("think", "rethink"), tags))
    segments = (think, rethink, answer)
    boxes, points = [], []
    for f in scan(text):
        where = _box_segment(f.start, segments)
        if f.point:
            points.append(ChainPoint(f.coords, f.label, where, f.start, f.end, f.syntax, f.well_formed))
        else:
            boxes.append(ChainBox(f.coords, f.label, where, f.start, f.end, f.syntax, f.well_formed, f.integers))
    return Chain(
        text,
        think,
        rethink,
        answer,
        tuple(boxes),
        answer.content.strip() if answer.present else None,
        _in_order(think, rethink, answer),
        _problems(text, think, rethink, answer),
        tuple(points),
    )


def parse(text: Any) -> Chain:
    """Parse a completion into a :class:`Chain`. Never raises; anything that is not a string is read as
    its ``str()`` (``None`` as the empty string).

    >>> c = parse('<think> The cat {"bbox_2d": [10, 20, 50, 60], "label": "cat"} </think> '
    ...           '<rethink> One cat. </rethink> <answer> 1 </answer>')
    >>> c.strict, c.answer_text, c.boxes[0].coords, c.boxes[0].label, c.boxes[0].segment
    (True, '1', (10.0, 20.0, 50.0, 60.0), 'cat', 'think')
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    return _parse(text)


def paper_boxes(text: str) -> list[tuple[int, int, int, int]]:
    """Boxes as the reference code finds them: every run of four comma-separated integers, anywhere.
    All-float boxes never match, but a float's last digits can start a match, as in the reference.

    >>> paper_boxes("(200, 168, 248, 202) and [1.5, 2, 3, 4] then 66, 6, 9, 9, 9, 3")
    [(200, 168, 248, 202), (5, 2, 3, 4), (66, 6, 9, 9)]
    """
    out = []
    for m in _PAPER_BOX_RE.finditer(text):
        try:
            out.append(tuple(int(v) for v in m.group().split(",")))
        except ValueError:
            continue
    return out


def _format_number(v: float) -> str:
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.2f}".rstrip("0").rstrip(".")


def box_item(item: Any) -> tuple[tuple[float, ...], str | None]:
    """A box item of :func:`render` as ``(coords, label)``."""
    if hasattr(item, "coords"):
        return tuple(item.coords), getattr(item, "label", None)
    if len(item) == 2 and not isinstance(item[0], (int, float)):
        return tuple(item[0]), item[1]
    return tuple(item), None


def render_box(box: Sequence[float], label: str | None = None, syntax: str = "json", index: int = 1) -> str:
    """Write one box in a chosen syntax (see :data:`BOX_SYNTAXES`).

    >>> render_box((1, 2, 30, 40), "cat", "internvl")
    '<ref>cat</ref><box>[[1, 2, 30, 40]]</box>'
    """
    if syntax not in BOX_SYNTAXES:
        raise ValueError(f"unknown box syntax {syntax!r}; use one of {', '.join(BOX_SYNTAXES)}")
    n = [_format_number(v) for v in box]
    if len(n) != 4:
        raise ValueError(f"a box needs four coordinates, got {len(n)}: {box}")
    listed = "[" + ", ".join(n) + "]"
    tupled = "(" + ", ".join(n) + ")"
    prefix = f"{label} " if label else ""
    if syntax == "json":
        return '{"bbox_2d": ' + listed + (f', "label": "{label}"' if label else "") + "}"
    if syntax == "list":
        return prefix + listed
    if syntax == "tuple":
        return prefix + tupled
    if syntax == "numbered":
        return f"{index}. {prefix}{tupled}"
    if syntax == "internvl":
        return (f"<ref>{label}</ref>" if label else "") + f"<box>[{listed}]</box>"
    ref = f"<|object_ref_start|>{label}<|object_ref_end|>" if label else ""
    return f"{ref}<|box_start|>({n[0]},{n[1]}),({n[2]},{n[3]})<|box_end|>"


def render(
    think: str | Sequence[Any] = "",
    rethink: str = "",
    answer: str = "",
    syntax: str = "json",
) -> str:
    """Write a grounded chain. ``think`` is text, or a sequence mixing text and boxes; a box is a 4-tuple,
    a ``(coords, label)`` pair, or anything with ``coords`` and ``label`` (such as a :class:`ChainBox`).

    >>> render(["I see", ((1, 2, 3, 4), "cat")], "One.", "1")
    '<think> I see {"bbox_2d": [1, 2, 3, 4], "label": "cat"} </think> <rethink> One. </rethink> <answer> 1 </answer>'
    """
    parts, index = [], 0
    for item in [think] if isinstance(think, str) else think:
        if isinstance(item, str):
            if item:
                parts.append(item)
            continue
        index += 1
        coords, label = box_item(item)
        parts.append(render_box(coords, label, syntax, index))
    body = " ".join(parts)
    pad = lambda s: f" {s} " if s else " "  # noqa: E731
    return f"<think>{pad(body)}</think> <rethink>{pad(rethink)}</rethink> <answer>{pad(answer)}</answer>"
