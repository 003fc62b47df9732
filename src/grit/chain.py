"""The one grammar of grounded reasoning chains: ``parse`` text into a :class:`Chain`, ``render`` one back.

A grounded chain is ``<think> text with boxes </think> <rethink> text </rethink> <answer> text </answer>``
(GRIT, arXiv 2505.15879, section 3). Models write boxes in many syntaxes; all of these are read:

- JSON objects with ``bbox_2d`` (and ``label``), including the repeated-key pseudo JSON models write
  (``{"bbox_2d": [..], "label": "a", "bbox_2d": [..], "label": "b"}``) and ``bbox_2d_1: [..]`` keys;
- bare lists ``[x1, y1, x2, y2]`` and tuples ``(x1, y1, x2, y2)``, also inside numbered lists;
- InternVL ``<ref>label</ref><box>[[x1, y1, x2, y2], ...]</box>``;
- Qwen2-VL ``<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>``.

Coordinates are kept as written (the model's frame); :mod:`grit.boxes` maps them to original pixels.
The paper's own box rule (four comma-separated integers anywhere) is :func:`paper_boxes`: the reference
rewards count boxes that way, and only they use it. Everything else (rewards, metrics, the viewer, the
baselines) reads chains through :func:`parse`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

SEGMENTS = ("think", "rethink", "answer")
BOX_SYNTAXES = ("json", "list", "tuple", "numbered", "internvl", "qwen2")

_NUM = r"[-+]?\d+(?:\.\d+)?"
_TAG_RE = re.compile(r"</?(?:think|rethink|answer)>")
_INTERNVL_RE = re.compile(r"(?:<ref>(?P<label>[^<]{0,200}?)</ref>\s*)?<box>(?P<body>.*?)</box>", re.S)
_QWEN2_RE = re.compile(
    r"(?:<\|object_ref_start\|>(?P<label>.{0,200}?)<\|object_ref_end\|>\s*)?<\|box_start\|>(?P<body>.*?)<\|box_end\|>",
    re.S,
)
_QWEN2_BODY_RE = re.compile(rf"^\s*\(\s*({_NUM})\s*,\s*({_NUM})\s*\)\s*,\s*\(\s*({_NUM})\s*,\s*({_NUM})\s*\)\s*$")
_BBOX_KEY_RE = re.compile(r"""["']?bbox_2d(?:_\d+)?["']?\s*:\s*""")
_LABEL_KEY_RE = re.compile(r"""["']?label["']?\s*:\s*["']([^"'\n]{0,200})["']""")
_BRACE_RE = re.compile(r"\{[^{}]*\}?")
_OPEN_LIST_RE = re.compile(r"[\[(]([-+\d.,\s]*)([\])]?)")
_BARE_RE = re.compile(
    rf"\[\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*\]|\(\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*\)"
)
_INNER_LIST_RE = re.compile(r"\[([^\[\]]*)\]")
_NUMBER_RE = re.compile(_NUM)
_PAPER_BOX_RE = re.compile(r"\b\d+,\s*\d+,\s*\d+,\s*\d+\b")


@dataclass(frozen=True)
class Segment:
    """One of the think / rethink / answer blocks: its first opening tag up to the next closing tag.

    ``start``/``end`` delimit the content (without tags); an unclosed block runs to the end of the text.
    ``opens``/``closes`` count every occurrence of the tags in the whole text.
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


@dataclass(frozen=True)
class ChainBox:
    """A box as written in the chain, in the model's frame.

    ``coords`` holds the numbers read (four for a well-formed box; whatever was there otherwise).
    ``well_formed`` means exactly four finite numbers in a closed list; geometry (x2 > x1, inside the
    image, not the whole image) is judged by :func:`grit.boxes.check_box` after mapping to pixels.
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
class Chain:
    text: str
    think: Segment
    rethink: Segment
    answer: Segment
    boxes: tuple[ChainBox, ...]
    answer_text: str | None
    in_order: bool
    problems: tuple[str, ...] = field(default=())

    @property
    def strict(self) -> bool:
        """The complete chain and nothing else: starts with ``<think>``, exactly one think, rethink and
        answer block, in that order, each closed, only whitespace between and after them, and a
        non-empty answer. ``problems`` says what is wrong otherwise."""
        return not self.problems

    def segment(self, name: str) -> Segment:
        return {"think": self.think, "rethink": self.rethink, "answer": self.answer}[name]

    def boxes_in(self, segment: str | None) -> tuple[ChainBox, ...]:
        return tuple(b for b in self.boxes if b.segment == segment)

    def without_boxes(self) -> str:
        """The chain text with every box's coordinates removed (a labelled box leaves its label), whitespace
        tidied: what the paper's cross-modal test shows a judge."""
        out, last = [], 0
        spans: dict[tuple[int, int], list[str]] = {}
        for b in self.boxes:
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


def _segment(text: str, name: str, tags: list[tuple[int, int, str]]) -> Segment:
    open_tag, close_tag = f"<{name}>", f"</{name}>"
    opens = [t for t in tags if t[2] == open_tag]
    closes = [t for t in tags if t[2] == close_tag]
    if not opens:
        return Segment(name, opens=0, closes=len(closes))
    first = opens[0]
    close = next((c for c in closes if c[0] >= first[1]), None)
    end = close[0] if close else len(text)
    return Segment(
        name,
        present=True,
        closed=close is not None,
        content=text[first[1] : end],
        start=first[1],
        end=end,
        tag_start=first[0],
        tag_end=close[1] if close else len(text),
        opens=len(opens),
        closes=len(closes),
    )


def _numbers(body: str) -> tuple[tuple[float, ...], bool]:
    raw = _NUMBER_RE.findall(body)
    values = tuple(float(v) for v in raw)
    return values, all(re.fullmatch(r"[-+]?\d+", v) for v in raw)


def _is_four_finite(values: Sequence[float]) -> bool:
    return len(values) == 4 and all(math.isfinite(v) for v in values)


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


def _scan_internvl(text: str, found: list, spans: list) -> None:
    for m in _INTERNVL_RE.finditer(text):
        label = m.group("label").strip() if m.group("label") is not None else None
        lists = list(_INNER_LIST_RE.finditer(m.group("body")))
        if not lists:
            values, ints = _numbers(m.group("body"))
            found.append((m.start(), m.end(), values, label, "internvl", _is_four_finite(values), ints))
        for inner in lists:
            values, ints = _numbers(inner.group(1))
            found.append((m.start(), m.end(), values, label, "internvl", _is_four_finite(values), ints))
        spans.append(m.span())


def _scan_qwen2(text: str, found: list, spans: list) -> None:
    for m in _QWEN2_RE.finditer(text):
        label = m.group("label").strip() if m.group("label") is not None else None
        body = _QWEN2_BODY_RE.match(m.group("body"))
        values, ints = _numbers(m.group("body"))
        found.append((m.start(), m.end(), values, label, "qwen2", body is not None and _is_four_finite(values), ints))
        spans.append(m.span())


def _json_region(regions: list[tuple[int, int]], key_start: int) -> tuple[int, int] | None:
    return next(((s, e) for s, e in regions if s <= key_start < e), None)


def _json_label(key_start: int, region, keys: list[int], labels) -> str | None:
    if region is None:
        return None
    s, e = region
    key_positions = [k for k in keys if s <= k < e]
    i = key_positions.index(key_start)
    nxt = key_positions[i + 1] if i + 1 < len(key_positions) else e
    prv = key_positions[i - 1] if i > 0 else s
    after = [lab for pos, lab in labels if key_start < pos < nxt]
    if after:
        return after[0]
    before = [lab for pos, lab in labels if prv <= pos < key_start]
    return before[-1] if before else None


def _scan_json(text: str, found: list, spans: list) -> None:
    keys = [m for m in _BBOX_KEY_RE.finditer(text) if not _overlaps(spans, m.start(), m.end())]
    if not keys:
        return
    # A closed {...} holding no chain tag is one object; its boxes share its span, so the
    # box-free text of the chain loses the whole object and keeps its labels.
    regions = [m.span() for m in _BRACE_RE.finditer(text) if m.group().endswith("}") and not _TAG_RE.search(m.group())]
    labels = [(m.start(), m.group(1).strip()) for m in _LABEL_KEY_RE.finditer(text)]
    key_starts = [m.start() for m in keys]
    for key in keys:
        region = _json_region(regions, key.start())
        label = _json_label(key.start(), region, key_starts, labels)
        lst = _OPEN_LIST_RE.match(text, key.end())
        end = lst.end() if lst else key.end()
        start, end = (min(region[0], key.start()), max(region[1], end)) if region else (key.start(), end)
        if lst is None:
            found.append((start, end, (), label, "json", False, True))
            continue
        values, ints = _numbers(lst.group(1))
        closed = lst.group(2) != "" and (text[lst.start()] + lst.group(2)) in ("[]", "()")
        found.append((start, end, values, label, "json", closed and _is_four_finite(values), ints))
        spans.append((start, end))


def _scan_bare(text: str, found: list, spans: list) -> None:
    for m in _BARE_RE.finditer(text):
        if _overlaps(spans, m.start(), m.end()):
            continue
        groups = [g for g in m.groups() if g is not None]
        values = tuple(float(g) for g in groups)
        ints = all(re.fullmatch(r"[-+]?\d+", g) for g in groups)
        found.append((m.start(), m.end(), values, None, "tuple" if text[m.start()] == "(" else "list", True, ints))


def _box_segment(start: int, segments: Iterable[Segment]) -> str | None:
    inside = [s for s in segments if s.present and s.start <= start < s.end]
    return max(inside, key=lambda s: s.start).name if inside else None


def _problems(text: str, think: Segment, rethink: Segment, answer: Segment, in_order: bool) -> tuple[str, ...]:
    problems = []
    if not text.lstrip().startswith("<think>"):
        problems.append("does not start with <think>")
    for seg in (think, rethink, answer):
        if seg.opens != 1 or seg.closes != 1:
            problems.append(f"<{seg.name}> x{seg.opens}, </{seg.name}> x{seg.closes} (need exactly one each)")
        elif not seg.closed:
            problems.append(f"<{seg.name}> is not closed")
    if not problems and not in_order:
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
    tags = [(m.start(), m.end(), m.group()) for m in _TAG_RE.finditer(text)]
    think, rethink, answer = (_segment(text, name, tags) for name in SEGMENTS)
    found: list = []
    spans: list[tuple[int, int]] = []
    _scan_internvl(text, found, spans)
    _scan_qwen2(text, found, spans)
    _scan_json(text, found, spans)
    _scan_bare(text, found, spans)
    found.sort(key=lambda f: f[0])
    boxes = tuple(
        ChainBox(values, label, _box_segment(s, (think, rethink, answer)), s, e, syntax, wf, ints)
        for s, e, values, label, syntax, wf, ints in found
    )
    in_order = (
        think.closed
        and rethink.closed
        and answer.present
        and think.tag_end <= rethink.tag_start
        and rethink.tag_end <= answer.tag_start
    )
    answer_text = answer.content.strip() if answer.present else None
    return Chain(
        text, think, rethink, answer, boxes, answer_text, in_order, _problems(text, think, rethink, answer, in_order)
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


def _box_item(item: Any) -> tuple[tuple[float, ...], str | None]:
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
        coords, label = _box_item(item)
        parts.append(render_box(coords, label, syntax, index))
    body = " ".join(parts)
    pad = lambda s: f" {s} " if s else " "  # noqa: E731
    return f"<think>{pad(body)}</think> <rethink>{pad(rethink)}</rethink> <answer>{pad(answer)}</answer>"
