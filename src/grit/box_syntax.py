"""How vision-language models write boxes and points, and :func:`scan`, which finds them in text.

Only :func:`grit.chain.parse` calls this; everything else reads boxes from its :class:`grit.chain.Chain`.
The forms read, and who writes them:

- a key and a list: ``"bbox_2d": [x1, y1, x2, y2]`` (GRIT, Qwen2.5-VL), in JSON or not: code fences, trailing
  commas, duplicate keys in one object, keys such as ``text_content`` beside it, nested ``[[..], [..]]``,
  numbered keys ``bbox_2d_1``, and the keys ``bbox`` and ``box``;
- a key and bare numbers: ``bbox_2d_3: x1, y1, x2, y2`` (GRIT models drop the brackets), ``data-bbox="x1 y1 x2 y2"``
  (Qwen2.5-VL document HTML);
- InternVL ``<ref>label</ref><box>[[x1, y1, x2, y2], ...]</box>``, and ``label[[..], ...]`` once its special tokens
  are stripped (so DeepSeek-VL2's stripped ``<|det|>`` too); Qwen-VL ``<ref>label</ref><box>(x1,y1),(x2,y2)</box>``;
  DeepSeek-VL2 ``<|ref|>label<|/ref|><|det|>[[x1, y1, x2, y2]]<|/det|>``;
- Qwen2-VL ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>``, and ``(x1,y1),(x2,y2)`` once decoding with
  ``skip_special_tokens=True`` strips the tokens;
- bare ``[x1, y1, x2, y2]`` and ``(x1, y1, x2, y2)``, also in numbered lists (GRIT's own outputs).

Points (``"point_2d": [x, y]``, ``"coordinate": [x, y]``, ``point``: Qwen2.5-VL pointing and agents) are found
separately and never count as boxes. A box is well-formed when it is exactly four numbers, closed, each in
[0, MAX_COORD]; anything else (five numbers, a negative or huge value, a keyed box cut off by the length limit) is
reported malformed, never trimmed or shifted into a box. A list of other than four numbers with nothing marking it
as a box (no key, no ``<box>``) is not read at all: ``[1, 2, 3, 4, 5]`` in prose is just numbers; nor is a tagged box
cut off before its closing tag (``<box>[[1, 2, 3``), nor a generic key (``box``, ``bbox``, ``point``, ``coordinate``)
written unquoted outside any ``{...}`` and followed by a wrong count of bare numbers and then more text (``in box: 1,
2, 3 there are``), which is prose; quoted or in an object, it is a malformed box.
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_left, bisect_right
from itertools import accumulate
from typing import NamedTuple

# Coordinates are never negative in any frame, and none reaches 1e5: 0-1000 and 0-1 frames, and Qwen2.5-VL's resized
# pixels (at most 16384 * 28 * 28 pixels in all) stay far below it. Beyond it the model wrote something else.
MAX_COORD = 100_000.0

_NUM = r"[-+]?\d+(?:\.\d+)?"
_NUMBER_RE = re.compile(_NUM)
_INT_RE = re.compile(r"[-+]?\d+")
_MARKUP_RE = re.compile(r"<\s*(?:/\s*)?[A-Za-z][\w|]*\s*(?:/\s*)?>")
_BOX_TAG_RE = re.compile(r"(?:<ref>(?P<label>[^<]{0,200}?)</ref>\s*)?<box>(?P<body>.*?)</box>", re.S)
_DEEPSEEK_RE = re.compile(r"(?:<\|ref\|>(?P<label>[^<]{0,200}?)<\|/ref\|>\s*)?<\|det\|>(?P<body>.*?)<\|/det\|>", re.S)
_QWEN2_RE = re.compile(
    r"(?:<\|object_ref_start\|>(?P<label>.{0,200}?)<\|object_ref_end\|>\s*)?<\|box_start\|>(?P<body>.*?)<\|box_end\|>",
    re.S,
)
_POINT = rf"\(\s*{_NUM}\s*,\s*{_NUM}\s*\)"
_POINT_RE = re.compile(_POINT)
_POINT_RUN_RE = re.compile(rf"{_POINT}(?:\s*(?:,\s*)?{_POINT})*")
_KEYED_POINT_RUN_RE = re.compile(rf"\[?\s*({_POINT}(?:\s*(?:,\s*)?{_POINT})*)\s*\]?")
_KEY_RE = re.compile(
    r"""(?<![A-Za-z0-9_])["']?(?P<key>bbox_2d(?:_\d+)?|bbox(?:_\d+)?|box(?:_\d+)?|point_2d|point|coordinate2?)["']?\s*[:=]\s*["']?"""
)
_POINT_KEYS = ("point_2d", "point", "coordinate", "coordinate2")  # coordinate2: where a swipe ends
# A label's value in either quote, the other quote and escaped quotes inside it ("man's hat", "the \\"big\\" dog").
_LABEL_KEY_RE = re.compile(
    r"""["']?(?:label|text_content|text|category)["']?\s*:\s*(?:"((?:[^"\\\n]|\\.){0,200})"|'((?:[^'\\\n]|\\.){0,200})')"""
)
_QUOTE_ESCAPE_RE = re.compile(r"\\([\"'\\])")


def _label_text(m: re.Match) -> str:
    """A label's value: a double-quoted one decoded as JSON (``\\u00e9``, ``\\n``, ``\\"``), else only its
    escaped quotes and backslashes undone."""
    if m.group(1) is not None:
        try:
            return json.loads(f'"{m.group(1)}"').strip()
        except ValueError:
            pass
    return _QUOTE_ESCAPE_RE.sub(r"\1", m.group(1) if m.group(1) is not None else m.group(2)).strip()


_BRACE_RE = re.compile(r"\{[^{}]*\}?")
_LIST_RE = re.compile(r"([\[(])([-+\d.,\s]*)([\])]?)")
_ITEM_RE = re.compile(r"\s*([\[(])([-+\d.,\s]*)([\])]?)\s*,?")
_OUTER_CLOSE_RE = re.compile(r"\s*[\])]")
_COMMA_RUN_RE = re.compile(rf"{_NUM}(?:\s*,\s*{_NUM})*")
_SPACE_RUN_RE = re.compile(rf"{_NUM}(?:[ \t]+{_NUM})*")
_GROUP_RE = re.compile(r"\[\s*\[[-+\d.,\s]*\](?:\s*,\s*\[[-+\d.,\s]*\])*\s*\]")
_INNER_LIST_RE = re.compile(r"\[([^\[\]]*)\]")
_BARE_RE = re.compile(
    rf"\[\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*\]|\(\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*\)"
)


class Found(NamedTuple):
    """A box or point as found: its span in the text, the numbers read, and how it was written."""

    start: int
    end: int
    coords: tuple[float, ...]
    label: str | None
    syntax: str
    well_formed: bool
    integers: bool
    point: bool = False


def _numbers(body: str) -> tuple[tuple[float, ...], bool]:
    raw = _NUMBER_RE.findall(body)
    return tuple(float(v) for v in raw), all(_INT_RE.fullmatch(v) for v in raw)


def _in_range(values: tuple[float, ...], n: int) -> bool:
    return len(values) == n and all(math.isfinite(v) and 0 <= v <= MAX_COORD for v in values)


class _Claimed:
    """The spans earlier scanners claimed, indexed once, so that asking whether a match overlaps one takes log time
    (a long chain has thousands of boxes). Matches of one ``finditer`` never overlap each other, so a scanner asks
    an index built before its own matches."""

    def __init__(self, spans: list[tuple[int, int]]):
        ordered = sorted(spans)
        self._starts = [s for s, _ in ordered]
        self._max_end = list(accumulate((e for _, e in ordered), max))

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect_left(self._starts, end)  # the spans starting before ``end``; one of them ends after ``start``?
        return i > 0 and self._max_end[i - 1] > start


def _scan_box_tags(text: str, found: list[Found], spans: list) -> None:
    for regex, syntax, marker in ((_BOX_TAG_RE, "internvl", "<box>"), (_DEEPSEEK_RE, "deepseek", "<|det|>")):
        if marker not in text:
            continue  # a substring test is far cheaper than a regex that starts with an optional group
        for m in regex.finditer(text):
            label = m.group("label").strip() if m.group("label") is not None else None
            body = m.group("body")
            lists = list(_INNER_LIST_RE.finditer(body))
            if not lists:  # Qwen-VL's <box>(x1,y1),(x2,y2)</box>, or something malformed
                values, ints = _numbers(body)
                kind = "qwen2" if _POINT_RUN_RE.fullmatch(body.strip()) else syntax
                found.append(Found(m.start(), m.end(), values, label, kind, _in_range(values, 4), ints))
            for inner in lists:
                values, ints = _numbers(inner.group(1))
                found.append(Found(m.start(), m.end(), values, label, syntax, _in_range(values, 4), ints))
            spans.append(m.span())


def _scan_qwen2_tokens(text: str, found: list[Found], spans: list) -> None:
    if "<|box_start|>" not in text:
        return
    for m in _QWEN2_RE.finditer(text):
        label = m.group("label").strip() if m.group("label") is not None else None
        values, ints = _numbers(m.group("body"))
        two_points = _POINT_RUN_RE.fullmatch(m.group("body").strip()) is not None
        found.append(Found(m.start(), m.end(), values, label, "qwen2", two_points and _in_range(values, 4), ints))
        spans.append(m.span())


def _nested(text: str, pos: int) -> tuple[int, list[tuple[tuple[float, ...], bool, bool]]]:
    """The lists of ``[[..], [..]]`` from ``pos``, just after the outer bracket: (end, [(values, ints, closed)])."""
    items = []
    while m := _ITEM_RE.match(text, pos):
        values, ints = _numbers(m.group(2))
        closed = m.group(1) + m.group(3) in ("[]", "()")
        items.append((values, ints, closed))
        pos = m.end()
        if not closed:
            break
    close = _OUTER_CLOSE_RE.match(text, pos)
    return (close.end() if close else pos), items


def _value(text: str, pos: int, point: bool, generic: bool, prose: bool = False):
    """What follows a key at ``pos``: (end, [(values, ints, closed)], syntax), or None when no numbers follow (or,
    for a key in ``prose``, bare numbers of another count than a box's or a point's followed by more text)."""
    if not point:
        m = _KEYED_POINT_RUN_RE.match(text, pos)
        if m and len(_POINT_RE.findall(m.group(1))) >= 2:  # (x1,y1),(x2,y2); more points is a polygon: malformed
            values, ints = _numbers(m.group(1))
            return m.end(), [(values, ints, len(values) == 4)], "qwen2"
    lst = _LIST_RE.match(text, pos)
    if lst:
        if lst.group(2).strip() == "" and _ITEM_RE.match(text, lst.end(1)):
            end, items = _nested(text, lst.end(1))
            return (end, items, "json") if items else None
        values, ints = _numbers(lst.group(2))
        if generic and not values:
            return None  # "box: [the red one]" names no box
        return lst.end(), [(values, ints, lst.group(1) + lst.group(3) in ("[]", "()"))], "json"
    run = _COMMA_RUN_RE.match(text, pos)
    if run and "," not in run.group():
        run = _SPACE_RUN_RE.match(text, pos)  # data-bbox="x1 y1 x2 y2"
    if run is None:
        return None
    values, ints = _numbers(run.group())
    cut = run.end() == len(text)  # a run that meets the end of the text may have lost digits
    if generic and len(values) < 2 or prose and len(values) != (2 if point else 4) and not cut:
        return None  # "box: 3" or "in box: 1, 2, 3 there are" in prose names no box
    end = run.end() + (not cut and text[run.end()] in "\"'")
    return end, [(values, ints, not cut)], "keyed"


def _label(
    key_start: int, region: tuple[int, int] | None, key_starts: list[int], label_starts: list[int], labels: list[str]
) -> str | None:
    """The label of the key at ``key_start``: the first label key after it in its object, else the last before.
    ``key_starts`` and ``label_starts`` are in order of position, so each lookup is a bisection."""
    if region is None:
        return None
    s, e = region
    i = bisect_left(key_starts, key_start)
    nxt = key_starts[i + 1] if i + 1 < len(key_starts) and key_starts[i + 1] < e else e
    prv = key_starts[i - 1] if i > 0 and key_starts[i - 1] >= s else s
    lo, hi = bisect_right(label_starts, key_start), bisect_left(label_starts, nxt)
    if lo < hi:
        return labels[lo]
    lo, hi = bisect_left(label_starts, prv), bisect_left(label_starts, key_start)
    return labels[hi - 1] if lo < hi else None


def _scan_keyed(text: str, found: list[Found], spans: list) -> None:
    if "box" not in text and "point" not in text and "coordinate" not in text:
        return
    claimed = _Claimed(spans)
    keys = [m for m in _KEY_RE.finditer(text) if not claimed.overlaps(m.start(), m.end())]
    if not keys:
        return
    # A closed {...} holding no markup tag is one object; its boxes share its span, so the box-free
    # text of the chain loses the whole object and keeps its labels.
    regions = [
        m.span() for m in _BRACE_RE.finditer(text) if m.group().endswith("}") and not _MARKUP_RE.search(m.group())
    ]
    region_starts = [s for s, _ in regions]
    label_keys = list(_LABEL_KEY_RE.finditer(text))
    label_starts = [m.start() for m in label_keys]
    labels = [_label_text(m) for m in label_keys]
    values = _Claimed([m.span(1) if m.group(1) is not None else m.span(2) for m in label_keys])
    keys = [k for k in keys if not values.overlaps(k.start(), k.end())]  # "label": "box: 5, 6" is a label's text
    key_starts = [m.start() for m in keys]
    for key in keys:
        name = key.group("key")
        point = name in _POINT_KEYS
        generic = not name.startswith("bbox_2d")
        j = bisect_right(region_starts, key.start()) - 1  # the regions are disjoint and in order
        region = regions[j] if j >= 0 and key.start() < regions[j][1] else None
        prose = generic and region is None and text[key.start()] not in "\"'"  # an unquoted word outside {...}
        value = _value(text, key.end(), point, generic, prose)
        if value is None and generic:
            continue
        label = _label(key.start(), region, key_starts, label_starts, labels)
        end, items, syntax = value if value else (key.end(), [((), True, False)], "json")  # "bbox_2d": null
        start, end = (min(region[0], key.start()), max(region[1], end)) if region else (key.start(), end)
        n = 2 if point else 4
        for values, ints, closed in items:
            found.append(Found(start, end, values, label, syntax, closed and _in_range(values, n), ints, point))
        if value:
            spans.append((start, end))


def _scan_two_points(text: str, found: list[Found], spans: list) -> None:
    claimed = _Claimed(spans)
    for m in _POINT_RUN_RE.finditer(text):
        if claimed.overlaps(m.start(), m.end()) or len(_POINT_RE.findall(m.group())) != 2:
            continue  # one (x, y) in prose is not a box, three or more are a polygon
        values, ints = _numbers(m.group())
        found.append(Found(m.start(), m.end(), values, None, "qwen2", _in_range(values, 4), ints))
        spans.append(m.span())


def _scan_groups(text: str, found: list[Found], spans: list) -> None:
    claimed = _Claimed(spans)
    for m in _GROUP_RE.finditer(text):
        if claimed.overlaps(m.start(), m.end()):
            continue
        lists = [_numbers(inner.group(1)) for inner in _INNER_LIST_RE.finditer(m.group())]
        if not any(len(values) >= 4 for values, _ in lists):
            continue  # [[1, 2], [3, 4]] is not a list of boxes
        for values, ints in lists:
            found.append(Found(m.start(), m.end(), values, None, "internvl", _in_range(values, 4), ints))
        spans.append(m.span())


def _scan_bare(text: str, found: list[Found], spans: list) -> None:
    claimed = _Claimed(spans)
    for m in _BARE_RE.finditer(text):
        if claimed.overlaps(m.start(), m.end()):
            continue
        groups = [g for g in m.groups() if g is not None]
        values = tuple(float(g) for g in groups)
        ints = all(_INT_RE.fullmatch(g) for g in groups)
        syntax = "tuple" if text[m.start()] == "(" else "list"
        found.append(Found(m.start(), m.end(), values, None, syntax, _in_range(values, 4), ints))


def scan(text: str) -> list[Found]:
    """Every box and point written in ``text``, in order of position. Scanners run from the most marked form to the
    least; each skips text an earlier one claimed, so a box is read once, in its most specific form.

    >>> [(f.coords, f.syntax, f.well_formed, f.point) for f in scan('bbox_2d_3: 1, 2, 30, 40 "point_2d": [5, 6]')]
    [((1.0, 2.0, 30.0, 40.0), 'keyed', True, False), ((5.0, 6.0), 'json', True, True)]
    """
    found: list[Found] = []
    spans: list[tuple[int, int]] = []
    for scanner in (_scan_box_tags, _scan_qwen2_tokens, _scan_keyed, _scan_two_points, _scan_groups, _scan_bare):
        scanner(text, found, spans)
    found.sort(key=lambda f: f.start)
    return found
