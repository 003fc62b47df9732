"""``grit data check`` and ``grit data show``: what a data file holds, what is wrong with it, and a contact
sheet of samples with their evidence boxes so a person can eyeball it."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from PIL import Image

from grit.boxes import area
from grit.data.images import load_image
from grit.data.loader import LoadResult
from grit.data.schema import Sample
from grit.render import caption, contact_sheet, draw_boxes


def _counter_line(title: str, counter: Counter) -> str:
    return f"{title}: " + ", ".join(
        f"{k or '-'} {v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))
    )


def check_report(result: LoadResult) -> str:
    """Counts per dataset, answer type and split; box statistics; every problem found."""
    samples = result.samples
    lines = [
        f"{len(samples)} valid samples"
        + (f", {len(result.skipped_lines)} invalid lines" if result.skipped_lines else "")
    ]
    if samples:
        lines.append(_counter_line("datasets", Counter(s.dataset for s in samples)))
        lines.append(_counter_line("answer types", Counter(s.answer_type for s in samples)))
        lines.append(_counter_line("splits", Counter(s.split for s in samples)))
        families = Counter(str(s.extra["family"]) for s in samples if "family" in s.extra)
        if families:
            lines.append(_counter_line("question families", families))
        with_boxes = [s for s in samples if s.evidence_boxes]
        n_boxes = sum(len(s.evidence_boxes) for s in samples)
        lines.append(
            f"evidence boxes: {n_boxes} in {len(with_boxes)} samples ({len(with_boxes) / len(samples):.1%} "
            f"have boxes; {n_boxes / max(len(with_boxes), 1):.2f} per sample that has any)"
        )
        if n_boxes:
            fractions = sorted(area(b) / (s.width * s.height) for s in samples for b in s.evidence_boxes)
            lines.append(
                f"box area / image area: min {fractions[0]:.3f}, median {fractions[len(fractions) // 2]:.3f}, "
                f"max {fractions[-1]:.3f}"
            )
    if result.problems:
        lines.append(f"{len(result.problems)} problems:")
        lines += [f"  {p}" for p in result.problems]
    else:
        lines.append("no problems found")
    return "\n".join(lines)


def show_sheet(samples: Sequence[Sample], n: int = 8, seed: int = 0, columns: int = 4, tile: int = 224) -> Image.Image:
    """A contact sheet of ``n`` random samples: image with evidence boxes, question and answer below."""
    if not samples:
        raise ValueError("the file has no valid samples to show")
    chosen = random.Random(seed).sample(list(samples), min(n, len(samples)))
    tiles = []
    for s in chosen:
        if s.image_path is None:
            raise ValueError(f"{s.source}: no image file at hand; pass --images")
        image = load_image(s.image_path)
        scale = tile / max(image.width, image.height)
        drawn = draw_boxes(image, s.evidence_boxes, None, scale)
        tiles.append(
            caption(
                drawn,
                f"{s.id} [{s.dataset}/{s.answer_type}]\nQ: {_shown(s.question)}\nA: {_shown(s.answer)}",
                width_chars=max(20, tile // 7),
            )
        )
    return contact_sheet(tiles, columns)


def _shown(text: str, limit: int = 300) -> str:
    """``text`` as a tile shows it: a long one cut, saying how long it was, so that one tile cannot grow the sheet."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
