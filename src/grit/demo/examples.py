"""The demo's examples: shapes-world images with their questions, drawn at start so the page works offline.

One question of each family for the grounded prompt, and one grounding instruction for the ``plain`` prompt: a
base model that has not learnt the chain yet (the shipped base) still writes boxes for that one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from grit.data.shapes import QUESTION_FAMILIES, WorldConfig
from grit.data.shapes.questions import make_question
from grit.pretrain.tasks import GROUNDING_TEMPLATE


@dataclass(frozen=True)
class Example:
    image: Path
    question: str
    kind: str

    @property
    def caption(self) -> str:
        return f"{self.question} ({self.kind})"


def write_examples(folder: str | Path, seed: int = 0) -> list[Example]:
    """Write the example images into ``folder`` (created if needed) and return the examples, in page order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"grit-demo-{seed}")
    questions = [make_question(rng, WorldConfig(), family, 2 + i) for i, family in enumerate(QUESTION_FAMILIES)]
    shapes = make_question(rng, WorldConfig(min_objects=3), "counting", 3)
    asked = [(q, q.question, "grounded") for q in questions]
    asked.append((shapes, GROUNDING_TEMPLATE.format(what="shapes"), "plain"))
    examples = []
    for i, (q, text, kind) in enumerate(asked):
        path = folder / f"example-{i}-{q.family}.png"
        q.scene.render().save(path, format="PNG")
        examples.append(Example(path, text, kind))
    return examples
