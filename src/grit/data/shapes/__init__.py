"""The shapes world, in one place: scenes with exact boxes (:mod:`.scene`), questions about them with evidence
boxes (:mod:`.questions`) and the writer of a data set in the GRIT_data layout (:mod:`.world`)."""

from grit.data.shapes.questions import Question, extreme, make_question, phrase, referents
from grit.data.shapes.scene import (
    COLOURS,
    QUESTION_FAMILIES,
    RELATIONS,
    SHAPES,
    Scene,
    ShapeObject,
    WorldConfig,
    families_problem,
    make_scene,
    plural,
)
from grit.data.shapes.world import write_shapes

__all__ = [
    "COLOURS",
    "QUESTION_FAMILIES",
    "RELATIONS",
    "SHAPES",
    "Question",
    "Scene",
    "ShapeObject",
    "WorldConfig",
    "extreme",
    "families_problem",
    "make_question",
    "make_scene",
    "phrase",
    "plural",
    "referents",
    "write_shapes",
]
