"""The options of ``grit pretrain`` (a recipe: recipes/shapes_base.yaml and the stages after it), with every check
that needs no model. The trainer they configure is :mod:`grit.pretrain.train`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grit.config import ConfigError, closest, field_problems, finite_number
from grit.data.shapes import QUESTION_FAMILIES, WorldConfig, families_problem
from grit.models.loading import device_field
from grit.models.tiny import IMAGE_GRID, SIZES
from grit.pretrain.tasks import (
    INSTRUCTED_KIND_WEIGHTS,
    INSTRUCTED_KINDS,
    REASONING_FAMILIES,
    REASONING_FORMS,
    REASONING_IMAGE_KINDS,
    REASONING_IMAGES,
    TASKS,
)


def _help(text: str, **more) -> dict:
    return {"help": text, **more}


@dataclass
class PretrainConfig:
    """The fields of ``grit pretrain`` (a recipe: recipes/shapes_base.yaml)."""

    out: str = field(default="runs/base", metadata=_help("run folder: checkpoints, eval.jsonl, model/"))
    model: str = field(default="", metadata=_help("a saved tiny model to start from; empty: build one of `size`"))
    size: str = field(default="small", metadata=_help("size of a newly built tiny model", choices=tuple(SIZES)))
    seed: int = field(default=0, metadata=_help("seed of the model, the scenes and the held-out set"))
    image_size: int = field(default=112, metadata=_help("scene side in pixels (a multiple of 28)", min=28))
    min_objects: int = field(default=1, metadata=_help("objects per scene, at least", min=1))
    max_objects: int = field(default=6, metadata=_help("objects per scene, at most", min=1))
    max_count: int = field(default=4, metadata=_help("counting questions' answers run 0..max_count", min=0))
    vision_steps: int = field(default=600, metadata=_help("stage 1 (vision tower + dense heads) steps", min=0))
    vision_batch: int = field(default=64, metadata=_help("stage 1 scenes per step", min=1))
    vision_lr: float = field(default=2e-3, metadata=_help("stage 1 learning rate", min=0))
    lm_steps: int = field(default=6000, metadata=_help("stage 2 (language model, tower frozen) steps", min=0))
    lm_batch: int = field(default=16, metadata=_help("stage 2 examples per step", min=1))
    lm_lr: float = field(default=1e-3, metadata=_help("stage 2 peak learning rate (cosine to lm_min_lr)", min=0))
    lm_min_lr: float = field(default=1e-4, metadata=_help("stage 2 final learning rate", min=0))
    warmup_steps: int = field(default=100, metadata=_help("stage 2 linear warm-up steps", min=0))
    image_token_weight: float = field(
        default=3.0,
        metadata=_help("loss weight of target tokens that depend on the image (numbers, colours...)", min=0),
    )
    task_mix: dict = field(
        default_factory=lambda: {"grounding": 0.5, "direct": 0.35, "tags": 0.15},
        metadata=_help(f"stage 2 task weights, a mapping over {', '.join(TASKS)}"),
    )
    reasoning_families: dict = field(
        default_factory=lambda: dict(REASONING_FAMILIES),
        metadata=_help(f"question families of the reasoning task, a mapping over {', '.join(QUESTION_FAMILIES)}"),
    )
    reasoning_images: list[str] = field(
        default_factory=lambda: list(REASONING_IMAGES),
        metadata=_help(
            "images of the reasoning task, drawn from: none, other (another scene's), own (the question's)",
            choices=REASONING_IMAGE_KINDS,
        ),
    )
    reasoning_forms: list[float] = field(
        default_factory=lambda: [1.0, 0.0, 0.0, 0.0],
        metadata=_help(
            f"weights of the reasoning task's prompt forms: {', '.join(REASONING_FORMS)} (an instruction after the "
            "question: answer only, write the boxes between two tags, or two to five general sentences; the boxes are "
            "given)",
            min=0,
        ),
    )
    instructed_counting_share: float = field(
        default=0.0,
        metadata=_help("share of instructed questions that are counting ones (else any family)", min=0, max=1),
    )
    instructed_kinds: list[float] = field(
        default_factory=lambda: list(INSTRUCTED_KIND_WEIGHTS),
        metadata=_help(
            f"weights of the instructed task's kinds: {', '.join(INSTRUCTED_KINDS)} (answer only, the answer between "
            "tags, the boxes of the objects the instruction names then the answer, the boxes of the objects left to "
            "read from the question then the answer)",
            min=0,
        ),
    )
    instructed_long_share: float = field(
        default=0.0,
        metadata=_help(
            "share of instructions to write boxes that two to five general sentences precede (the model's own boxes "
            "far from the question)",
            min=0,
            max=1,
        ),
    )
    grounding_present_share: float = field(
        default=0.0,
        metadata=_help("share of grounding queries about an object that is in the scene", min=0, max=1),
    )
    grounding_group_share: float = field(
        default=0.0,
        metadata=_help(
            "share of grounding queries for the group a counting question counts (often several alike)", min=0, max=1
        ),
    )
    grounding_extreme_share: float = field(
        default=0.0,
        metadata=_help(
            'share of grounding queries for the shape a superlative picks ("the leftmost shape")', min=0, max=1
        ),
    )
    word_readout: bool = field(
        default=False, metadata=_help("stage 1: also score each cell's colour/shape against the LM's word embeddings")
    )
    curriculum_steps: int = field(
        default=1000, metadata=_help("stage 2 starts with this many steps on scenes of few objects", min=0)
    )
    curriculum_max_objects: int = field(default=2, metadata=_help("objects per scene during the curriculum", min=1))
    eval_every: int = field(default=1000, metadata=_help("held-out evaluation every N stage 2 steps", min=1))
    save_every: int = field(default=250, metadata=_help("checkpoint every N steps", min=1))
    max_minutes: float = field(
        default=0.0, metadata=_help("wall-clock cap on stage 2 (0: none); the run stops early and says so", min=0)
    )
    threads: int = field(default=2, metadata=_help("torch CPU threads", min=1))
    device: str = device_field()
    heldout_grounding: int = field(default=100, metadata=_help("held-out grounding queries", min=1))
    heldout_direct: int = field(default=40, metadata=_help("held-out direct questions per question family", min=1))
    heldout_reasoning: int = field(
        default=160, metadata=_help("held-out reasoning questions (gold boxes given, the answer asked)", min=1)
    )
    resume: bool = field(default=False, metadata=_help("continue from OUT/checkpoint-last"))

    def __post_init__(self):
        problems = field_problems(self)
        if self.vision_steps == 0 and self.lm_steps == 0:
            problems.append("vision_steps and lm_steps are both 0: nothing would be trained; give either above 0")
        for name, names in (("task_mix", TASKS), ("reasoning_families", QUESTION_FAMILIES)):
            if problem := weights_problem(getattr(self, name), names):
                problems.append(f"{name}: {getattr(self, name)}: {problem}")
        if self.image_size % IMAGE_GRID:
            below = self.image_size // IMAGE_GRID * IMAGE_GRID
            problems.append(
                f"image_size: {self.image_size} is not a multiple of {IMAGE_GRID} (the vision tower's 14-pixel "
                f"patches, merged 2 x 2); give {max(IMAGE_GRID, below)} or {below + IMAGE_GRID}"
            )
        for name, names in (("instructed_kinds", INSTRUCTED_KINDS), ("reasoning_forms", REASONING_FORMS)):
            weights = getattr(self, name)  # one weight per name; each >= 0 is checked by field_problems
            if len(weights) != len(names) or not sum(weights):
                problems.append(
                    f"{name}: {weights}: give {len(names)} weights >= 0, one for each of {', '.join(names)}"
                )
        for steps, lr in (("vision_steps", "vision_lr"), ("lm_steps", "lm_lr")):  # steps that would change nothing
            if getattr(self, steps) and not getattr(self, lr):
                problems.append(
                    f"{lr}: 0 with {steps} {getattr(self, steps)}: those steps would change nothing; give "
                    f"a learning rate above 0, or {steps} 0"
                )
        if self.lm_steps and self.lm_min_lr > self.lm_lr:
            problems.append(
                f"lm_min_lr: {self.lm_min_lr} is above lm_lr {self.lm_lr}: the cosine decays from lm_lr to lm_min_lr, "
                "so give lm_min_lr <= lm_lr"
            )
        if self.grounding_group_share + self.grounding_extreme_share > 1:
            problems.append(
                f"grounding_group_share + grounding_extreme_share: {self.grounding_group_share} + "
                f"{self.grounding_extreme_share} is over 1; give shares of the grounding queries that sum to at most 1"
            )
        if self.curriculum_steps and self.curriculum_max_objects > self.max_objects:  # its scenes start at one object
            problems.append(
                f"curriculum_max_objects: {self.curriculum_max_objects} is above max_objects {self.max_objects}; the "
                "curriculum's scenes hold at most as many objects as the rest: give at most max_objects"
            )
        if not self.reasoning_images:
            problems.append(f"reasoning_images: give a list of {', '.join(REASONING_IMAGE_KINDS)}")
        if not problems:  # the world's own checks, once each field is in its range
            try:
                world = self.world()
            except ValueError as e:
                problems.append(str(e))
            else:
                if problem := families_problem(world):  # its tasks ask every family
                    problems.append(problem)
        if problems:
            raise ConfigError("bad pretrain config: " + "; ".join(problems))

    def world(self) -> WorldConfig:
        """The shapes world the stage's scenes come from."""
        return WorldConfig(
            image_size=self.image_size,
            min_objects=self.min_objects,
            max_objects=self.max_objects,
            max_count=self.max_count,
        )


def weights_problem(mix: dict, names) -> str | None:
    """What is wrong with a mapping of weights over ``names`` (each a finite number >= 0, one of them above 0), said
    of the key at fault; None if nothing.

    >>> weights_problem({"groundin": 1}, ("grounding", "direct"))
    "'groundin' is not one of grounding, direct; did you mean grounding?"
    >>> weights_problem({"grounding:1": None}, ("grounding", "direct"))
    "'grounding:1' has no weight; write {grounding: 1}, with a space after the colon"
    """
    for key, value in mix.items():
        if key not in names:
            if value is None and ":" in str(key):  # YAML reads {a:1} as one key, a:1, with no value
                name, _, weight = str(key).partition(":")
                return f"{key!r} has no weight; write {{{name}: {weight}}}, with a space after the colon"
            return f"{key!r} is not one of {', '.join(names)}{closest(str(key), names)}"
        if not finite_number(value) or value < 0:
            return f"{key}: {value!r} is not a weight; give a number >= 0"
    if not any(v > 0 for v in mix.values()):
        return f"give weights >= 0, at least one above 0, for {', '.join(names)}"
    return None
