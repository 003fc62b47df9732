"""The shapes world: seeded synthetic scenes with exact boxes, and questions about them with evidence boxes.

Scenes hold 1-``max_objects`` coloured shapes on a dark background, never overlapping (a gap of at least
2 px), so every object is fully visible and its box is exact: the tight bounding box of its drawn pixels,
``(left, top, right, bottom)`` with right/bottom exclusive, in original pixels. Question families mirror the
paper's data: counting (TallyQA-like, answers balanced over 0..``max_count``), spatial yes/no (VSR-like,
balanced), existence yes/no (balanced) and attribute (colour or shape of one object).

Everything is a pure function of the seed: the same seed gives byte-identical PNGs and JSONL.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

COLOURS = {"red": (220, 50, 50), "green": (50, 180, 60), "blue": (60, 90, 230), "yellow": (230, 210, 50)}
SHAPES = ("circle", "square", "triangle")
BACKGROUND = (30, 30, 30)
QUESTION_FAMILIES = ("counting", "spatial", "existence", "attribute")


def families_problem(cfg: WorldConfig, families=QUESTION_FAMILIES) -> str | None:
    """Why ``cfg``'s scenes cannot hold a question of one of ``families`` (a spatial one relates two objects), or
    None."""
    if "spatial" in families and cfg.max_objects < 2:
        return f"max_objects {cfg.max_objects}: spatial questions relate two objects; give --max_objects 2 or more"
    return None


RELATIONS = {"left of": (0, -1), "right of": (0, 1), "above": (1, -1), "below": (1, 1)}  # (axis, sign)


@dataclass(frozen=True)
class ShapeObject:
    shape: str
    colour: str
    box: tuple[int, int, int, int]  # exact pixel extent, right/bottom exclusive

    @property
    def label(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    def to_record(self) -> dict:
        return {"label": self.label, "shape": self.shape, "colour": self.colour, "box": list(self.box)}


@dataclass(frozen=True)
class WorldConfig:
    image_size: int = 112
    min_objects: int = 1
    max_objects: int = 6
    min_side: int = 18
    max_side: int = 32
    max_count: int = 4
    colours: tuple[str, ...] = tuple(COLOURS)
    shapes: tuple[str, ...] = SHAPES
    min_gap: int = 2
    min_spatial_offset: int = 12  # px between centres on the queried axis

    def __post_init__(self):
        if not 1 <= self.min_objects <= self.max_objects <= 8:
            raise ValueError(
                f"min_objects / max_objects: {self.min_objects} / {self.max_objects}; a scene holds 1 to 8 objects, "
                "so give 1 <= min_objects <= max_objects <= 8"
            )
        if not 0 <= self.max_count <= self.max_objects:
            raise ValueError(
                f"max_count: {self.max_count} with max_objects {self.max_objects}; a scene must hold the counted "
                "objects, so give 0 <= max_count <= max_objects"
            )
        if self.max_side >= self.image_size // 2 or self.min_side < 6:
            raise ValueError(f"shape sides {self.min_side}..{self.max_side} do not fit a {self.image_size} px image")
        unknown = [c for c in self.colours if c not in COLOURS] + [s for s in self.shapes if s not in SHAPES]
        if unknown:
            raise ValueError(f"unknown colours/shapes {unknown}; known: {list(COLOURS)} and {list(SHAPES)}")


@dataclass
class Scene:
    objects: list[ShapeObject] = field(default_factory=list)
    size: int = 112

    def matching(self, colour: str | None = None, shape: str | None = None) -> list[ShapeObject]:
        return [
            o for o in self.objects if (colour is None or o.colour == colour) and (shape is None or o.shape == shape)
        ]

    def render(self) -> Image.Image:
        image = Image.new("RGB", (self.size, self.size), BACKGROUND)
        draw = ImageDraw.Draw(image)
        for o in self.objects:
            _draw(draw, o.shape, o.box, COLOURS[o.colour])
        return image


def _draw(draw: ImageDraw.ImageDraw, shape: str, box: Sequence[int], fill) -> None:
    x1, y1, x2, y2 = box[0], box[1], box[2] - 1, box[3] - 1  # PIL takes inclusive corners
    if shape == "circle":
        draw.ellipse((x1, y1, x2, y2), fill=fill)
    elif shape == "square":
        draw.rectangle((x1, y1, x2, y2), fill=fill)
    else:
        draw.polygon([((x1 + x2) / 2, y1), (x2, y2), (x1, y2)], fill=fill)


def _tight_box(shape: str, outer: tuple[int, int, int, int], size: int) -> tuple[int, int, int, int]:
    mask = Image.new("L", (size, size), 0)
    _draw(ImageDraw.Draw(mask), shape, outer, 255)
    return mask.getbbox()


def _place(
    rng: random.Random, cfg: WorldConfig, placed: list[ShapeObject], shape: str, colour: str
) -> ShapeObject | None:
    for _ in range(200):
        side = rng.randint(cfg.min_side, cfg.max_side)
        x, y = rng.randint(0, cfg.image_size - side), rng.randint(0, cfg.image_size - side)
        outer = (x, y, x + side, y + side)
        g = cfg.min_gap
        if all(
            outer[2] + g <= o.box[0]
            or o.box[2] + g <= outer[0]
            or outer[3] + g <= o.box[1]
            or o.box[3] + g <= outer[1]
            for o in placed
        ):
            return ShapeObject(shape, colour, _tight_box(shape, outer, cfg.image_size))
    return None


def make_scene(
    rng: random.Random,
    cfg: WorldConfig,
    required: Sequence[tuple[str, str]] = (),
    n_objects: int | None = None,
    forbid: Sequence[tuple[str | None, str | None]] = (),
) -> Scene | None:
    """A scene holding the ``required`` (shape, colour) objects plus random others up to ``n_objects``; random
    objects never match a ``forbid`` (colour or None, shape or None) pattern. None if placement fails, or if the
    ``required`` objects alone are more than ``cfg.max_objects``."""
    if len(required) > cfg.max_objects:  # the scene would hold more than max_objects: the caller draws again
        return None
    n = n_objects if n_objects is not None else rng.randint(cfg.min_objects, cfg.max_objects)
    n = max(n, len(required))
    specs = list(required)
    tries = 0
    while len(specs) < n and tries < 500:
        tries += 1
        spec = (rng.choice(cfg.shapes), rng.choice(cfg.colours))
        if any((c is None or spec[1] == c) and (s is None or spec[0] == s) for c, s in forbid):
            continue
        specs.append(spec)
    if len(specs) < n:
        return None
    rng.shuffle(specs)
    scene = Scene(size=cfg.image_size)
    for shape, colour in specs:
        obj = _place(rng, cfg, scene.objects, shape, colour)
        if obj is None:
            return None
        scene.objects.append(obj)
    return scene


def plural(shape: str) -> str:
    return shape + "s"
