"""The label-free format warm start for the tiny model (a deviation from the paper, used only by the quickstart).

A weak base never samples the think/rethink/answer structure under the grounded prompt, so GRPO-GR sees no
positive advantage for it (shared/TINY-EXPERIMENT.md). The warm start shows it the layout with nothing but its
*own* outputs: for each unlabeled (image, question), the base grounds the objects the question names with its
grounding prompt and answers with its direct prompt, and a few SFT steps teach
``<think> {its boxes} </think> <rethink> {a sentence} </rethink> <answer> {its answer} </answer>``.
No gold answer and no gold box is read. Referents are read from the question text (shapes-world phrasing).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Sequence

import torch
from PIL import Image

from grit.chain import parse, render
from grit.data.shapes import COLOURS, SHAPES, plural
from grit.data.tasks import GROUNDING_TEMPLATE
from grit.models.generation import GenerationSettings, generate
from grit.models.loading import Policy
from grit.pretrain.tasks import Example, collate
from grit.prompts import question_text

_PHRASE = re.compile(rf"\b(?:({'|'.join(COLOURS)})\s+)?({'|'.join(SHAPES)})s?\b|\b({'|'.join(COLOURS)})\s+(?:shapes|object)\b")


def referents(question: str) -> list[str]:
    """What to ground for a question, as grounding-prompt phrases ("red circles", "shapes").

    >>> referents("Is the red circle left of the blue square?"), referents("What colour is the leftmost shape?")
    (['red circles', 'blue squares'], ['shapes'])
    """
    found = []
    for m in _PHRASE.finditer(question.lower()):
        colour, shape, colour_only = m.groups()
        found.append(f"{colour} {plural(shape)}" if colour and shape else plural(shape) if shape else f"{colour_only} shapes")
    return found or ["shapes"]


@dataclass(frozen=True)
class SelfChain:
    image: Image.Image
    question: str
    chain: str


def self_chains(policy: Policy, images: Sequence[Image.Image], questions: Sequence[str], batch_size: int = 32) -> list[SelfChain]:
    """Chains built from the policy's own grounding and direct answers (no labels)."""
    asks = [(i, phrase) for i, q in enumerate(questions) for phrase in referents(q)]
    grounding = generate(policy, [images[i] for i, _ in asks], [GROUNDING_TEMPLATE.format(what=p) for _, p in asks],
                         "plain", GenerationSettings(max_new_tokens=100, batch_size=batch_size, stop_at_answer=False))
    answers = generate(policy, list(images), list(questions), "direct",
                       GenerationSettings(max_new_tokens=8, batch_size=batch_size, stop_at_answer=False))
    boxes: dict[int, list] = {}
    for (i, _), text in zip(asks, grounding):
        boxes.setdefault(i, []).extend(b for b in parse(text).boxes if b.well_formed)
    chains = []
    for i, (image, question) in enumerate(zip(images, questions)):
        answer = answers[i].strip().split("\n")[0].strip() or "none"
        found = boxes.get(i, [])
        think = ["Let me find the objects.", *found] if found else ["I look for the objects and find none."]
        rethink = f"Based on the {len(found)} boxes, the answer is {answer}."
        chains.append(SelfChain(image, question, render(think, rethink, answer)))
    return chains


def warm_start(policy: Policy, chains: Sequence[SelfChain], steps: int = 40, batch_size: int = 16, lr: float = 5e-4,
               seed: int = 0, log=print) -> list[float]:
    """A few SFT steps of the grounded prompt -> the policy's own chains; returns the losses. The vision tower
    stays frozen, as in pretraining."""
    model = policy.model
    rng = random.Random(seed)
    frozen = [p for p in model.model.visual.parameters()] if hasattr(model.model, "visual") else []
    for p in frozen:
        p.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    examples = [Example(c.image, question_text(c.question, "grounded"), c.chain, "warm") for c in chains]
    losses = []
    model.train()
    for step in range(steps):
        batch = collate(policy.processor, rng.sample(examples, min(batch_size, len(examples))), set(), 1.0)
        labels = batch.pop("labels")
        batch.pop("weights")
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        losses.append(loss.item())
    for p in frozen:
        p.requires_grad_(True)
    model.eval()
    log(f"warm start: {steps} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    return losses
