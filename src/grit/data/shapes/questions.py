"""Questions about shapes-world scenes, one generator per family, each with its evidence boxes.

Answers are balanced by construction: the generator is told the answer to produce (a count, yes or no) and
builds a scene for it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from grit.data.shapes.scene import COLOURS, RELATIONS, SHAPES, Scene, ShapeObject, WorldConfig, make_scene, plural

EXTREMES = {"leftmost": (0, min), "rightmost": (0, max), "topmost": (1, min), "bottommost": (1, max)}


@dataclass
class Question:
    scene: Scene
    family: str
    question: str
    answer: str
    answer_type: str
    evidence: list[ShapeObject]


def counting(rng: random.Random, cfg: WorldConfig, count: int) -> Question | None:
    colour, shape = rng.choice(cfg.colours), rng.choice(cfg.shapes)
    kind = rng.choice(("both", "both", "shape", "colour"))
    if kind == "shape":
        colour = None
    elif kind == "colour":
        shape = None
    required = [(shape or rng.choice(cfg.shapes), colour or rng.choice(cfg.colours)) for _ in range(count)]
    n = max(count, rng.randint(cfg.min_objects, cfg.max_objects))
    scene = make_scene(rng, cfg, required, n, forbid=[(colour, shape)])
    if scene is None:
        return None
    what = f"{colour} {plural(shape)}" if colour and shape else plural(shape) if shape else f"{colour} shapes"
    evidence = scene.matching(colour, shape)
    return Question(scene, "counting", f"How many {what} are there?", str(len(evidence)), "count", evidence)


def spatial(rng: random.Random, cfg: WorldConfig, answer: str) -> Question | None:
    a = (rng.choice(cfg.shapes), rng.choice(cfg.colours))
    b = (rng.choice(cfg.shapes), rng.choice(cfg.colours))
    if a == b:
        return None
    scene = make_scene(rng, cfg, [a, b], forbid=[(a[1], a[0]), (b[1], b[0])])
    if scene is None:
        return None
    obj_a, obj_b = scene.matching(a[1], a[0])[0], scene.matching(b[1], b[0])[0]
    relation = rng.choice(list(RELATIONS))
    axis, sign = RELATIONS[relation]
    d = obj_a.centre[axis] - obj_b.centre[axis]
    if abs(d) < cfg.min_spatial_offset:
        return None
    if ((d > 0) == (sign > 0)) != (answer == "yes"):
        obj_a, obj_b = obj_b, obj_a
    q = f"Is the {obj_a.label} {relation} the {obj_b.label}?"
    return Question(scene, "spatial", q, answer, "yesno", [obj_a, obj_b])


def existence(rng: random.Random, cfg: WorldConfig, answer: str) -> Question | None:
    shape, colour = rng.choice(cfg.shapes), rng.choice(cfg.colours)
    required = [(shape, colour)] * (rng.randint(1, 2) if answer == "yes" else 0)
    scene = make_scene(rng, cfg, required, forbid=[(colour, shape)])
    if scene is None:
        return None
    evidence = scene.matching(colour, shape)
    return Question(scene, "existence", f"Is there a {colour} {shape}?", answer, "yesno", evidence)


def attribute(rng: random.Random, cfg: WorldConfig, kind: str) -> Question | None:
    scene = make_scene(rng, cfg)
    if scene is None:
        return None
    objs = scene.objects
    if kind == "colour_of_shape":
        shape = rng.choice([o.shape for o in objs])
        matches = scene.matching(shape=shape)
        if len(matches) != 1:
            return None
        return Question(scene, "attribute", f"What colour is the {shape}?", matches[0].colour, "open", matches)
    if kind == "shape_of_colour":
        colour = rng.choice([o.colour for o in objs])
        matches = scene.matching(colour=colour)
        if len(matches) != 1:
            return None
        return Question(scene, "attribute", f"What shape is the {colour} object?", matches[0].shape, "open", matches)
    where = rng.choice(list(EXTREMES))
    axis, pick = EXTREMES[where]
    ordered = sorted(objs, key=lambda o: o.centre[axis], reverse=pick is max)
    if len(ordered) > 1 and abs(ordered[0].centre[axis] - ordered[1].centre[axis]) < cfg.min_spatial_offset:
        return None
    target = ordered[0]
    if kind == "colour_of_extreme":
        return Question(scene, "attribute", f"What colour is the {where} shape?", target.colour, "open", [target])
    return Question(scene, "attribute", f"What shape is the {where} object?", target.shape, "open", [target])


ATTRIBUTE_KINDS = ("colour_of_shape", "shape_of_colour", "colour_of_extreme", "shape_of_extreme")


def make_question(rng: random.Random, cfg: WorldConfig, family: str, index: int) -> Question:
    """A question of ``family`` whose answer is fixed by ``index`` (so answers are balanced over indices)."""
    for _ in range(1000):
        if family == "counting":
            q = counting(rng, cfg, index % (cfg.max_count + 1))
        elif family == "spatial":
            q = spatial(rng, cfg, ("yes", "no")[index % 2])
        elif family == "existence":
            q = existence(rng, cfg, ("yes", "no")[index % 2])
        elif family == "attribute":
            q = attribute(rng, cfg, ATTRIBUTE_KINDS[index % len(ATTRIBUTE_KINDS)])
        else:
            raise ValueError(f"unknown question family {family!r}")
        if q is not None:
            return q
    raise RuntimeError(f"could not build a {family} question with {cfg}; allow more room (image size, objects)")


_PHRASE = re.compile(
    rf"\b(?:({'|'.join(COLOURS)})\s+)?({'|'.join(SHAPES)})s?\b|\b({'|'.join(COLOURS)})\s+(?:shapes|object)\b"
)


def referents(question: str) -> list[tuple[str | None, str | None]]:
    """The (colour, shape) of each object group a shapes-world question names, in order; ``[(None, None)]`` (all
    shapes) when it names none. Read from the text alone, so it needs no labels.

    >>> referents("Is the red circle left of the blue square?"), referents("What colour is the leftmost shape?")
    ([('red', 'circle'), ('blue', 'square')], [(None, None)])
    """
    found = []
    for m in _PHRASE.finditer(question.lower()):
        colour, shape, colour_only = m.groups()
        found.append((colour or colour_only, shape))
    return found or [(None, None)]


def extreme(question: str) -> str | None:
    """The superlative a shapes-world question picks its object by ("leftmost", ...), or None.

    >>> extreme("What colour is the leftmost shape?"), extreme("What colour is the circle?")
    ('leftmost', None)
    """
    found = [w for w in EXTREMES if re.search(rf"\b{w}\b", question.lower())]
    return found[0] if found else None


def phrase(colour: str | None, shape: str | None) -> str:
    """The grounding prompt's words for a group: "red circles", "circles", "red shapes", "shapes"."""
    if shape:
        return f"{colour} {plural(shape)}" if colour else plural(shape)
    return f"{colour} shapes" if colour else "shapes"
