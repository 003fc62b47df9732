"""Base-model tasks on the shapes world (for pretraining the tiny model before GRPO-GR): grounding and direct
answers. Never a grounded reasoning chain: GRPO-GR must find that on its own.

- grounding: "Output the bounding boxes of all red circles in JSON with key 'bbox_2d'." ->
  ``[{"bbox_2d": [x1, y1, x2, y2], "label": "red circle"}, ...]`` in the model's frame, or ``none``;
- direct answers: the direct prompt (``"\\nQuestion: ..."``) -> the short answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from grit.boxes import Frame
from grit.chain import render_box
from grit.data.questions import Question, phrase
from grit.data.shapes import Scene
from grit.prompts import question_text

GROUNDING_TEMPLATE = "Output the bounding boxes of all {what} in JSON with key 'bbox_2d'."


@dataclass(frozen=True)
class TaskExample:
    task: str  # grounding | direct
    prompt: str  # the user text (the image comes first in the turn)
    target: str


def grounding_target(objects, frame: Frame) -> str:
    """The JSON list of the objects' boxes in the model's frame (rounded to whole numbers), top to bottom."""
    if not objects:
        return "none"
    ordered = sorted(objects, key=lambda o: (o.box[1], o.box[0]))
    boxes = [render_box([round(v) for v in frame.from_original(o.box)], o.label, "json") for o in ordered]
    return "[" + ", ".join(boxes) + "]"


def grounding_example(
    scene: Scene, rng: random.Random, frame: Frame, colours, shapes, present_share: float = 0.0
) -> TaskExample:
    """Ask for all objects of a colour, a shape, both, or all shapes. With probability ``present_share`` the
    colour and shape are those of an object in the scene; otherwise they are random and may match nothing."""
    colour, shape = rng.choice(colours), rng.choice(shapes)
    if scene.objects and rng.random() < present_share:
        anchor = rng.choice(scene.objects)
        colour, shape = anchor.colour, anchor.shape
    kind = rng.choice(("both", "both", "colour", "shape", "all"))
    colour = colour if kind in ("both", "colour") else None
    shape = shape if kind in ("both", "shape") else None
    what = phrase(colour, shape)
    target = grounding_target(scene.matching(colour, shape), frame)
    return TaskExample("grounding", GROUNDING_TEMPLATE.format(what=what), target)


def direct_example(question: Question) -> TaskExample:
    return TaskExample("direct", question_text(question.question, "direct"), question.answer)


def write_base_tasks(out, n: int, seed: int, cfg, frame_spec) -> int:
    """Write ``n`` base-task examples (half grounding, half direct answers, each on a fresh scene) as JSONL with
    their images under ``out/images``; returns the number written. For inspection and for external trainers:
    ``grit pretrain`` draws fresh scenes on the fly instead."""
    import json
    from pathlib import Path

    from grit.data.questions import make_question
    from grit.data.shapes import FAMILIES

    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"grit-base-tasks-{seed}")
    frame = frame_spec.frame(cfg.image_size, cfg.image_size)
    with (out / "base_tasks.jsonl").open("w", encoding="utf-8") as f:
        for i in range(n):
            q = make_question(rng, cfg, FAMILIES[i % len(FAMILIES)], i // len(FAMILIES))
            example = grounding_example(q.scene, rng, frame, cfg.colours, cfg.shapes) if i % 2 else direct_example(q)
            name = f"images/task-{i:06d}.png"
            q.scene.render().save(out / name, format="PNG")
            f.write(
                json.dumps({"image": name, "task": example.task, "prompt": example.prompt, "target": example.target})
                + "\n"
            )
    return n
