"""Drawing: boxes on images (original pixels, numbered), captions, and contact sheets.

Used by ``grit data show``, ``grit infer``, the rollout viewer and the evaluation report, so a box looks the same
wherever it is drawn.
"""

from __future__ import annotations

import base64
import functools
import io
import textwrap
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

PALETTE = [
    (255, 64, 64),
    (64, 224, 255),
    (255, 214, 0),
    (186, 104, 255),
    (0, 230, 118),
    (255, 145, 0),
    (255, 255, 255),
    (255, 105, 180),
]


# Pillow's own font draws ASCII only (accents come out as empty boxes); DejaVu Sans, where the system has it, draws
# Latin, Greek and Cyrillic text too.
UNICODE_FONTS = ("DejaVuSans.ttf",)


@functools.lru_cache(maxsize=32)
def font(size: int = 12) -> ImageFont.ImageFont:
    for name in UNICODE_FONTS:
        try:
            return ImageFont.truetype(name, size)
        except OSError:  # not installed here
            continue
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # an old Pillow or no FreeType: the fixed bitmap font
        return ImageFont.load_default()


def draw_boxes(
    image: Image.Image,
    boxes: Sequence[Sequence[float]],
    labels: Sequence[str | None] | None = None,
    scale: float = 1.0,
    colour: tuple[int, int, int] | None = None,
    numbered: bool = True,
    dashed: bool = False,
    text_size: int | None = None,
    line_width: int | None = None,
) -> Image.Image:
    """A copy of ``image`` (resized by ``scale``) with boxes given in its original pixels drawn on it. Tag text
    size and line width grow with ``scale`` unless given."""
    out = image.convert("RGB")
    if scale != 1.0:
        out = out.resize((max(1, round(out.width * scale)), max(1, round(out.height * scale))), Image.NEAREST)
    draw = ImageDraw.Draw(out)
    f = font(text_size or max(10, round(11 * max(scale, 1) ** 0.5)))
    width = line_width or max(1, round(scale))
    for i, box in enumerate(boxes):
        c = colour or PALETTE[i % len(PALETTE)]
        x1, y1, x2, y2 = (v * scale for v in box)
        x1, x2 = sorted((x1, x2))
        y1, y2 = sorted((y1, y2))
        if dashed:
            _dashed_rectangle(draw, (x1, y1, x2, y2), c, width)
        else:
            draw.rectangle((x1, y1, x2, y2), outline=c, width=width)
        tag = " ".join(t for t in (str(i + 1) if numbered else "", (labels[i] if labels else None) or "") if t)
        if tag:
            text_height = draw.textbbox((0, 0), tag, font=f)[3]
            tx, ty = x1 + 1, max(0, y1 - text_height - 1)
            draw.rectangle(draw.textbbox((tx, ty), tag, font=f), fill=(0, 0, 0))
            draw.text((tx, ty), tag, fill=c, font=f)
    return out


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box, colour, width: int, dash: int = 4) -> None:
    x1, y1, x2, y2 = box
    for a, b, horizontal, fixed in ((x1, x2, True, y1), (x1, x2, True, y2), (y1, y2, False, x1), (y1, y2, False, x2)):
        pos = a
        while pos < b:
            end = min(pos + dash, b)
            line = (pos, fixed, end, fixed) if horizontal else (fixed, pos, fixed, end)
            draw.line(line, fill=colour, width=width)
            pos += 2 * dash


def caption(image: Image.Image, text: str, width_chars: int = 36, size: int = 12, max_lines: int = 12) -> Image.Image:
    """The image with wrapped text below it, at most ``max_lines`` lines (the last says how many were left out)."""
    f = font(size)
    lines = [line for para in text.split("\n") for line in (textwrap.wrap(para, width_chars) or [""])]
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [f"... ({len(lines) - max_lines + 1} more lines)"]
    line_h = size + 4
    out = Image.new("RGB", (image.width, image.height + line_h * len(lines) + 6), (255, 255, 255))
    out.paste(image, (0, 0))
    draw = ImageDraw.Draw(out)
    for i, line in enumerate(lines):
        draw.text((4, image.height + 3 + i * line_h), line, fill=(0, 0, 0), font=f)
    return out


def contact_sheet(tiles: Sequence[Image.Image], columns: int = 4, pad: int = 6) -> Image.Image:
    """Tiles in a grid on a light background, rows as tall as their tallest tile."""
    if not tiles:
        raise ValueError("nothing to draw: no tiles")
    columns = max(1, min(columns, len(tiles)))
    rows = [tiles[i : i + columns] for i in range(0, len(tiles), columns)]
    cell_w = max(t.width for t in tiles)
    heights = [max(t.height for t in row) for row in rows]
    sheet = Image.new("RGB", (columns * (cell_w + pad) + pad, sum(heights) + pad * (len(rows) + 1)), (235, 235, 235))
    y = pad
    for row, h in zip(rows, heights):
        for j, tile in enumerate(row):
            sheet.paste(tile, (pad + j * (cell_w + pad), y))
        y += h + pad
    return sheet


def to_data_uri(image: Image.Image) -> str:
    """A PNG data URI, for self-contained HTML pages."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
