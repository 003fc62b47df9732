"""Held-out measurement of a base model: does it ground, does it answer, does it use the image?

- grounding: greedy answers to grounding prompts on held-out scenes, boxes matched one-to-one to the truth:
  mean matched IoU over queries that have targets, and recall = target objects found at IoU >= 0.5;
  queries with no target are right when the answer has no box; the same for the groups counting questions count
  (none to four alike), with the share of answers that box exactly as many objects as there are, and for the one
  shape a superlative picks;
- direct answers: accuracy per question family (rule verifier);
- image-use probe: loss on a fixed batch with the true images vs the same batch with images shuffled between
  examples; the gap (shuffled - true) is how much the model relies on what it sees.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch

from grit.answers import verify
from grit.boxes import Frame, match_boxes
from grit.chain import parse
from grit.data.shapes import QUESTION_FAMILIES, WorldConfig
from grit.data.shapes.questions import make_question
from grit.models.generation import GenerationSettings, generate
from grit.models.loading import Policy
from grit.pretrain.tasks import (
    REASONING_FAMILIES,
    Example,
    collate,
    extreme_question,
    grounding_example,
    named_grounding_example,
    reasoning_example,
    sample_example,
)


@dataclass
class HeldOut:
    grounding: list[Example]
    direct: list[tuple[Example, str, str]]  # example, gold answer, family
    probe: list[Example]
    reasoning: list[Example]  # with the question's image, as a chain has it
    groups: list[Example] = field(default_factory=list)  # the groups counting questions count
    extremes: list[Example] = field(default_factory=list)  # the shape a superlative picks


def make_heldout(
    cfg: WorldConfig,
    frame: Frame,
    seed: int,
    n_grounding: int = 100,
    n_direct: int = 40,
    n_probe: int = 64,
    n_reasoning: int = 160,
    n_groups: int = 100,
    n_extremes: int = 40,
) -> HeldOut:
    """Held-out examples from a random stream of their own (training streams use other seeds)."""
    rng = random.Random(f"grit-pretrain-heldout-{seed}")
    grounding = []
    for i in range(n_grounding):
        q = make_question(rng, cfg, QUESTION_FAMILIES[i % len(QUESTION_FAMILIES)], i)
        grounding.append(grounding_example(q.scene, rng, frame, cfg.colours, cfg.shapes))
    direct = []
    for family in QUESTION_FAMILIES:
        for i in range(n_direct):
            q = make_question(rng, cfg, family, i)
            direct.append((Example(q.scene.render(), q.question, q.answer, family), q.answer, family))
    probe = [sample_example(rng, cfg, frame, {"grounding": 0.5, "direct": 0.5}) for _ in range(n_probe)]
    reasoning = [reasoning_example(rng, cfg, frame, image="own") for _ in range(n_reasoning)]
    groups = [named_grounding_example(make_question(rng, cfg, "counting", i), frame) for i in range(n_groups)]
    extremes = [named_grounding_example(extreme_question(rng, cfg, i), frame) for i in range(n_extremes)]
    return HeldOut(grounding, direct, probe, reasoning, groups, extremes)


def grounding_readout(
    outputs: list[str], examples: list[Example], frame: Frame, name: str = "grounding"
) -> dict[str, float]:
    """Matched IoU, recall at IoU 0.5, "none" right, and the share of answers with exactly as many boxes as the
    truth, as ``{name}_...``."""
    ious, hits, targets, empty_right, empty, exact = [], 0, 0, 0, 0, 0
    for text, ex in zip(outputs, examples):
        truth = [frame.to_original(b.coords) for b in parse(ex.target).boxes]
        predicted = [frame.to_original(b.coords) for b in parse(text).boxes if b.well_formed]
        exact += len(predicted) == len(truth)
        if not truth:
            empty += 1
            empty_right += int(not predicted)
            continue
        m = match_boxes(predicted, truth)
        ious.append(m.mean_iou)
        hits += m.hits
        targets += len(truth)
    result = {
        f"{name}_matched_iou": sum(ious) / max(len(ious), 1),
        f"{name}_recall50": hits / max(targets, 1),
        f"{name}_empty_correct": empty_right / max(empty, 1),
        f"{name}_exact_count": exact / max(len(examples), 1),
    }
    if not empty:
        del result[f"{name}_empty_correct"]
    return result


@torch.no_grad()
def probe_losses(model, processor, examples: list[Example]) -> dict[str, float]:
    """Mean target-token loss with true images and with images rotated by one example."""
    model.eval()
    device = next(model.parameters()).device
    out = {}
    shuffled = [
        Example(examples[(i + 1) % len(examples)].image, ex.prompt, ex.target, ex.task)
        for i, ex in enumerate(examples)
    ]
    for name, exs in (("true", examples), ("shuffled", shuffled)):
        total, count = 0.0, 0
        for lo in range(0, len(exs), 16):
            batch = collate(processor, exs[lo : lo + 16], set(), 1.0).to(device)
            labels = batch.pop("labels")
            batch.pop("weights")
            logits = model(**batch).logits[:, :-1]
            target = labels[:, 1:]
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100, reduction="sum"
            )
            total += float(loss)
            count += int((target != -100).sum())
        out[f"probe_loss_{name}"] = total / count
    out["image_use_gap"] = out["probe_loss_shuffled"] - out["probe_loss_true"]
    return out


def evaluate_base(policy: Policy, heldout: HeldOut, frame: Frame, batch_size: int = 32) -> dict[str, float]:
    """Every held-out measure of the base, as a flat dict."""
    settings = GenerationSettings(max_new_tokens=120, batch_size=batch_size, stop_at_answer=False)
    g = heldout.grounding
    outputs = generate(policy, [e.image for e in g], [e.prompt for e in g], "plain", settings)
    result = grounding_readout(outputs, g, frame)
    for name, examples in (("grounding_group", heldout.groups), ("grounding_extreme", heldout.extremes)):
        if examples:
            texts = generate(policy, [e.image for e in examples], [e.prompt for e in examples], "plain", settings)
            result.update(grounding_readout(texts, examples, frame, name))
    short = GenerationSettings(max_new_tokens=8, batch_size=batch_size, stop_at_answer=False)
    d = heldout.direct
    answers = generate(policy, [e.image for e, _, _ in d], [e.prompt for e, _, _ in d], "direct", short)
    for family in QUESTION_FAMILIES:
        pairs = [(a, gold, ex) for a, (ex, gold, fam) in zip(answers, d) if fam == family]
        result[f"direct_{family}"] = sum(verify(a, gold, None, ex.prompt) for a, gold, ex in pairs) / max(
            len(pairs), 1
        )
    r = heldout.reasoning
    replies = generate(policy, [e.image for e in r], [e.prompt for e in r], "plain", short, [e.given for e in r])
    for family in REASONING_FAMILIES:
        pairs = [(a, ex) for a, ex in zip(replies, r) if ex.task == f"reasoning/{family}"]
        if pairs:
            right = sum(verify(a.strip().split("\n")[0], ex.target, None, ex.prompt) for a, ex in pairs)
            result[f"reasoning_{family}"] = right / len(pairs)
    result.update(probe_losses(policy.model, policy.processor, heldout.probe))
    policy.model.train()
    return result
