"""What the demo page shows for a partial chain: the chain as HTML (blocks set apart, boxes highlighted), the image
with the complete boxes drawn, the table of boxes, the format flags and a status line. Plain strings, lists and
PIL images: no gradio here.

Box *n* has the same number and colour in the chain, on the image and in the table.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PIL import Image

from grit.boxes import Frame
from grit.chain import SEGMENTS
from grit.demo.stream import PartialChain
from grit.grounding import chain_record
from grit.prompts import CHAINLESS_PROMPTS
from grit.render import PALETTE, draw_boxes

DISPLAY_MIN = 448  # px: small images (the shapes world's 112 px) are enlarged to this, pixels kept sharp
DISPLAY_MAX = 768  # px: large images are shown at most this large (never sent to the browser at full size)
BOX_COLUMNS = ("#", "block", "label", "model frame", "original pixels", "problem")


def box_colour(number: int) -> tuple[int, int, int]:
    return PALETTE[(number - 1) % len(PALETTE)]


def display_image(image: Image.Image) -> tuple[Image.Image, float]:
    """The image at the size the page shows it, and the scale from original pixels to it."""
    longest = max(image.width, image.height)
    scale = DISPLAY_MIN / longest if longest < DISPLAY_MIN else min(1.0, DISPLAY_MAX / longest)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resample = Image.NEAREST if scale >= 1 else Image.BILINEAR
    return image.convert("RGB").resize(size, resample), scale


def draw_partial(shown: Image.Image, scale: float, partial: PartialChain) -> Image.Image:
    """``shown`` (from :func:`display_image`) with every complete, well-formed box drawn, numbered and labelled;
    boxes with a problem (degenerate, out of image, whole image) are dashed."""
    out = shown
    line = max(2, round(max(shown.size) / 224))
    for number, placed in enumerate(partial.boxes, 1):
        if placed.original is None:
            continue
        box = [v * scale for v in placed.original]
        tag = f"{number} {placed.box.label}" if placed.box.label else str(number)
        out = draw_boxes(
            out, [box], [tag], 1.0, box_colour(number), False, not placed.valid, text_size=14, line_width=line
        )
    return out if out is not shown else shown.copy()


def _format(values: Sequence[float], digits: int) -> str:
    return "[" + ", ".join(f"{v:.{digits}f}" if digits else f"{v:g}" for v in values) + "]"


def box_rows(partial: PartialChain) -> list[list[str]]:
    """One row per complete box (:data:`BOX_COLUMNS`): number, block, label, coordinates as written (the model's
    frame), in original pixels, and its problem (``ok`` when none)."""
    return [
        [
            str(number),
            placed.box.segment or "outside",
            placed.box.label or "",
            _format(placed.box.coords, 0),
            "" if placed.original is None else _format(placed.original, 1),
            placed.problem or "ok",
        ]
        for number, placed in enumerate(partial.boxes, 1)
    ]


def _block_at(position: int, partial: PartialChain) -> str:
    """The innermost think / rethink / answer block (tags included) holding ``position``; ``outside`` if none."""
    inside = [s for s in map(partial.chain.segment, SEGMENTS) if s.present and s.tag_start <= position < s.tag_end]
    return max(inside, key=lambda s: s.tag_start).name if inside else "outside"


def _box_at(position: int, spans: list[tuple[int, int, int | None]]) -> int | None | str:
    for start, end, number in spans:
        if start <= position < end:
            return "pending" if number is None else number
    return None


def chain_html(partial: PartialChain, writing: bool = False) -> str:
    """The chain text, escaped, in one ``div.block`` per run of think / rethink / answer / outside text, with each
    box's text in a ``mark`` numbered like the drawn boxes (the box still being written marked ``pending``)."""
    text = partial.text
    if not text:
        return "<div class='chain empty'>" + ("…" if writing else "") + "</div>"
    spans = [(p.box.start, p.box.end, n) for n, p in enumerate(partial.boxes, 1)]
    if partial.pending is not None:
        spans.append((partial.pending.start, partial.pending.end, None))
    cuts = sorted({0, len(text), *(c for s in spans for c in s[:2])} | _block_cuts(partial))
    runs: list[tuple[str, int | None | str, str]] = []  # (block, box number | "pending" | None, text)
    for start, end in zip(cuts, cuts[1:]):
        if start < end:
            runs.append((_block_at(start, partial), _box_at(start, spans), text[start:end]))
    parts, open_block = ["<div class='chain'>"], None
    for block, box, piece in runs:
        if block != open_block:
            parts.append("</div>" if open_block else "")
            parts.append(f"<div class='block block-{block}'><span class='block-name'>{block}</span>")
            open_block = block
        parts.append(_piece_html(box, piece))
    parts.append("<span class='cursor'>▍</span>" if writing else "")
    parts.append("</div></div>")
    return "".join(parts)


def _block_cuts(partial: PartialChain) -> set[int]:
    cuts = set()
    for seg in map(partial.chain.segment, SEGMENTS):
        if seg.present:
            cuts |= {seg.tag_start, seg.tag_end}
    return cuts


def _piece_html(box: int | None | str, piece: str) -> str:
    escaped = f"<bdi>{html.escape(piece)}</bdi>"  # isolated: a right-to-left mark in it cannot reorder the rest
    if box is None:
        return escaped
    if box == "pending":
        return f"<mark class='box pending' title='box being written'>{escaped}</mark>"
    r, g, b = box_colour(box)
    return (
        f"<mark class='box' data-box='{box}' style='border-color: rgb({r},{g},{b})'>"
        f"<sup class='box-number' style='background: rgb({r},{g},{b})'>{box}</sup>{escaped}</mark>"
    )


def flags_html(partial: PartialChain, frame: Frame, kind: str = "grounded") -> str:
    """The chain's format flags (:func:`grit.grounding.chain_record`): each block present / closed, the order,
    whether it is the strict chain, and what is wrong otherwise."""
    flags = chain_record(partial.chain, frame)["format"]
    if kind in CHAINLESS_PROMPTS:
        flags = {**flags, "problems": [f"(the {kind} prompt asks for no chain)"]}
    badges = []
    for name in SEGMENTS:
        state = "closed" if flags[f"{name}_closed"] else "open" if flags[f"{name}_present"] else "missing"
        badges.append(f"<span class='flag flag-{state}'>&lt;{name}&gt; {state}</span>")
    badges.append(
        f"<span class='flag flag-{'closed' if flags['in_order'] else 'missing'}'>"
        f"{'in order' if flags['in_order'] else 'not in order'}</span>"
    )
    badges.append(
        f"<span class='flag flag-{'closed' if flags['strict'] else 'missing'}'>"
        f"{'strict chain' if flags['strict'] else 'not a strict chain'}</span>"
    )
    problems = "".join(f"<li>{html.escape(p)}</li>" for p in flags["problems"])
    problems = f"<ul class='problems'>{problems}</ul>" if problems else ""
    return "<div class='flags'>" + "".join(badges) + problems + "</div>"
