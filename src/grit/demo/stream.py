"""Which boxes of a partial chain are complete: the reading of a chain while it is being generated.

A box is complete once its closing bracket has been generated; from then on its coordinates cannot change (a label
written after them can still arrive). Only the last box of a partial text can be unfinished: one that runs to the
end of the text without a closing bracket. Everything is read through :func:`grit.chain.parse`, so a finished
stream reads exactly as the final chain does, and through :func:`grit.grounding.place_boxes`, so boxes are placed
in original pixels and checked as everywhere else in grit.
"""

from __future__ import annotations

from dataclasses import dataclass

from grit.boxes import Frame
from grit.chain import Chain, ChainBox, parse
from grit.grounding import PlacedBox, place_boxes

_CLOSERS = ("]", ")", "}", ">")


@dataclass(frozen=True)
class PartialChain:
    """A chain read while it is written: ``boxes`` are the complete ones in reading order (placed in original
    pixels, numbered 1.. on the page), ``pending`` the box still being written at the end of the text, if any."""

    text: str
    chain: Chain
    boxes: tuple[PlacedBox, ...]
    pending: ChainBox | None
    finished: bool


def is_unfinished(box: ChainBox, text: str) -> bool:
    """True when ``box`` is still being written: it runs to the end of ``text`` and has no closing bracket yet.

    >>> text = '<think> the cat {"bbox_2d": [10, 20, 5'
    >>> is_unfinished(parse(text).boxes[-1], text)
    True
    """
    if box.well_formed or box.end < len(text.rstrip()):
        return False
    return not text[box.start : box.end].rstrip().endswith(_CLOSERS)


def read_partial(text: str, frame: Frame, finished: bool = False) -> PartialChain:
    """Read a partial completion. When ``finished``, nothing is pending: an unclosed box is final (malformed).

    >>> text = '<think> {"bbox_2d": [1, 2, 30, 40], "label": "a"}, {"bbox_2d": [50, 6'
    >>> p = read_partial(text, Frame.original(64, 64))
    >>> [b.box.coords for b in p.boxes], p.pending.coords
    ([(1.0, 2.0, 30.0, 40.0)], (50.0, 6.0))
    """
    chain = parse(text)
    placed = place_boxes(chain, frame, "any")
    pending = None
    if not finished and placed and is_unfinished(placed[-1].box, text):
        pending, placed = placed[-1].box, placed[:-1]
    return PartialChain(text, chain, placed, pending, finished)


def box_keys(partial: PartialChain) -> tuple:
    """What the drawn image depends on: each complete box's coordinates and label (redraw when it changes)."""
    return tuple((p.box.coords, p.box.label) for p in partial.boxes)
