"""The base model's training stream: fresh shapes-world scenes turned into (image, prompt, target) examples and
then into token batches with per-token loss weights.

Tasks (never a grounded reasoning chain):
- grounding (:data:`GROUNDING_TEMPLATE`):
  "Output the bounding boxes of all red circles in JSON with key 'bbox_2d'." -> JSON list or ``none``;
- direct answers to counting, spatial, existence and attribute questions (the direct prompt);
- tag following with tag names other than think/rethink/answer ("... between <view> and </view> ...");
- instructed questions: a question followed by an instruction, as real prompts put one after the question: answer
  only, answer between tags, or first the boxes of the objects the question names (named again by the instruction,
  or left to be read from the question) and then the answer (never GRIT's instruction or tags). Without them the
  base read a question only when it ended the prompt: under GRIT's prompt its chains answered colour questions with
  "red" whatever the image (measured, see the recipe).
Image-dependent target tokens (coordinates, counts, colours, shapes, yes/no) can weigh more in the loss: the JSON
scaffold and labels copied from the prompt carry no image signal and otherwise dominate it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from grit.boxes import Frame
from grit.chain import render_box
from grit.data.shapes import (
    QUESTION_FAMILIES,
    Question,
    Scene,
    WorldConfig,
    extreme,
    make_question,
    make_scene,
    phrase,
    plural,
    referents,
)
from grit.data.shapes.questions import ATTRIBUTE_KINDS
from grit.prompts import question_text

TASKS = ("grounding", "direct", "tags", "instructed", "reasoning")
TAGS = tuple(
    "view look plan note out res count colour shape where final obs sum "
    "info result boxes scene list check memo".split()
)


@dataclass
class Example:
    image: Image.Image | None  # None: a text-only example
    prompt: str  # the user text after the image
    target: str
    task: str
    given: str = ""  # the start of the reply, written for the model (no loss), before ``target``


GROUNDING_TEMPLATE = "Output the bounding boxes of all {what} in JSON with key 'bbox_2d'."
EXTREME_TEMPLATE = "Output the bounding box of the {where} shape in JSON with key 'bbox_2d'."


def grounding_asks(question: str) -> list[tuple[str, str]]:
    """What to ground for a shapes-world question, in its order, and the grounding prompt for each: every group
    of the colour and shape it names ("red circles"), or the one shape its superlative picks ("leftmost shape")."""
    where = extreme(question)
    if where:
        return [(f"{where} shape", EXTREME_TEMPLATE.format(where=where))]
    return [(phrase(*r), GROUNDING_TEMPLATE.format(what=phrase(*r))) for r in referents(question)]


# One listing of every shape in the picture, as the base's grounding task asks for "all shapes".
LISTING_PROMPT = GROUNDING_TEMPLATE.format(what=phrase(None, None))


def named_boxes(question: Question, frame: Frame) -> str:
    """The boxes of the objects a question names, one JSON list per group in its order (as its chain grounds them,
    :func:`grounding_asks`): the groups of the colours and shapes it names, or the one shape its superlative picks."""
    if extreme(question.question):
        return grounding_target(question.evidence, frame)
    return " ".join(grounding_target(question.scene.matching(*g), frame) for g in referents(question.question))


def grounding_target(objects, frame: Frame) -> str:
    """The JSON list of the objects' boxes in the model's frame (rounded to whole numbers), top to bottom."""
    if not objects:
        return "none"
    ordered = sorted(objects, key=lambda o: (o.box[1], o.box[0]))
    boxes = [render_box([round(v) for v in frame.from_original(o.box)], o.label, "json") for o in ordered]
    return "[" + ", ".join(boxes) + "]"


def grounding_example(
    scene: Scene, rng: random.Random, frame: Frame, colours, shapes, present_share: float = 0.0
) -> Example:
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
    return Example(scene.render(), GROUNDING_TEMPLATE.format(what=what), target, "grounding")


def extreme_question(rng: random.Random, cfg: WorldConfig, index: int) -> Question:
    """An attribute question about the shape a superlative picks (colour or shape by ``index``)."""
    kinds = [i for i, k in enumerate(ATTRIBUTE_KINDS) if k.endswith("_of_extreme")]
    return make_question(rng, cfg, "attribute", kinds[index % len(kinds)])


def named_grounding_example(question: Question, frame: Frame) -> Example:
    """Ground what a question names, on its scene, as its chain grounds it (:func:`grounding_asks`,
    :func:`named_boxes`); the question itself is not shown. For a counting question that is the group it counts (none
    to ``max_count``, often several alike: random scenes rarely hold those, and without them the base boxed two or
    three of four, docs/EXPERIMENTS.md); for a superlative one the shape it picks, clear of the next one."""
    ((_, prompt),) = grounding_asks(question.question)
    return Example(question.scene.render(), prompt, named_boxes(question, frame), "grounding")


def direct_example(question: Question) -> Example:
    """The direct prompt ("\\nQuestion: ...") -> the short answer."""
    task = f"direct/{question.family}"
    return Example(question.scene.render(), question_text(question.question, "direct"), question.answer, task)


def write_base_tasks(out, n: int, seed: int, cfg, frame_spec) -> int:
    """Write ``n`` base-task examples (half grounding, half direct answers, each on a fresh scene) as JSONL with
    their images under ``out/images``; returns the number written. For inspection and for external trainers:
    ``grit pretrain`` draws fresh scenes on the fly instead."""
    import json
    from pathlib import Path

    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"grit-base-tasks-{seed}")
    frame = frame_spec.frame(cfg.image_size, cfg.image_size)
    with (out / "base_tasks.jsonl").open("w", encoding="utf-8") as f:
        for i in range(n):
            q = make_question(rng, cfg, QUESTION_FAMILIES[i % len(QUESTION_FAMILIES)], i // len(QUESTION_FAMILIES))
            example = grounding_example(q.scene, rng, frame, cfg.colours, cfg.shapes) if i % 2 else direct_example(q)
            name = f"images/task-{i:06d}.png"
            example.image.save(out / name, format="PNG")
            f.write(
                json.dumps(
                    {
                        "image": name,
                        "task": example.task.split("/")[0],
                        "prompt": example.prompt,
                        "target": example.target,
                    }
                )
                + "\n"
            )
    return n


def tag_example(rng: random.Random, cfg: WorldConfig, frame: Frame) -> Example:
    """One or two tagged clauses about a fresh scene, e.g. ``<view> 3 </view> <res> red``."""
    scene = make_scene(rng, cfg)
    while scene is None:
        scene = make_scene(rng, cfg)
    clauses, parts = [], []
    for i, tag in enumerate(rng.sample(TAGS, rng.randint(1, 2))):
        colour, shape = rng.choice(cfg.colours), rng.choice(cfg.shapes)
        kind = rng.choice(("count", "count_colour", "exists", "boxes"))
        if kind == "count":
            what, value = "the number of shapes", str(len(scene.objects))
        elif kind == "count_colour":
            what, value = f"the number of {colour} shapes", str(len(scene.matching(colour=colour)))
        elif kind == "exists":
            what, value = (
                f"whether there is a {colour} {shape} (yes or no)",
                "yes" if scene.matching(colour, shape) else "no",
            )
        else:
            what, value = f"the boxes of all {plural(shape)}", grounding_target(scene.matching(shape=shape), frame)
        closed = i == 0 or rng.random() < 0.5
        clauses.append(f"write {what} between <{tag}> and </{tag}>" if closed else f"write {what} after <{tag}>")
        parts.append(f"<{tag}> {value} </{tag}>" if closed else f"<{tag}> {value}")
    prompt = "First, " + clauses[0] + "." + (f" Then, {clauses[1]}." if len(clauses) > 1 else "")
    return Example(scene.render(), prompt, " ".join(parts), "tags")


ANSWER_ONLY = (
    " Answer with one word or number.",
    " Look at the image, then give only the answer.",
    " Reply with the answer and nothing else: a number for a count, yes or no for a yes/no question, one word for a "
    "colour or a shape.",
    " Read the question carefully and look at every shape in the image before you answer. Write only the final "
    "answer, in one word or one number, without any explanation, tags or coordinates.",
)


UNNAMED = ("the objects the question is about", "the shapes the question names", "every object you need to answer")


# Kinds of instructed questions: answer only; the answer between tags; the boxes of the objects the instruction
# names, then the answer; the boxes of the objects left to be read from the question, then the answer.
INSTRUCTED_KINDS = ("answer", "tagged", "boxes", "boxes_unnamed")
INSTRUCTED_KIND_WEIGHTS = (0.3, 0.15, 0.25, 0.3)


def instructed_example(
    rng: random.Random,
    cfg: WorldConfig,
    frame: Frame,
    counting_share: float = 0.0,
    kinds: Sequence[float] | None = None,
    long_share: float = 0.0,
) -> Example:
    """A question followed by an instruction, e.g. "Question: How many red circles are there? First, write the
    boxes of all red circles in JSON with key 'bbox_2d' between <look> and </look>. Then, write the answer after
    <res>." -> ``<look> [..] </look> <res> 2``. ``counting_share``: a counting question this often, else any family;
    ``kinds``: weights of :data:`INSTRUCTED_KINDS`; ``long_share``: this often, two to five general sentences
    (:data:`INSTRUCTION_SENTENCES`) come before an instruction to write boxes, so that the model grounds its own
    boxes far from the question, as a chain behind a long instruction must (never GRIT's instruction)."""
    # no draw at a share of 0: older recipes keep their stream
    family = "counting" if counting_share and rng.random() < counting_share else rng.choice(QUESTION_FAMILIES)
    q = make_question(rng, cfg, family, rng.randrange(1000))
    kind = rng.choices(INSTRUCTED_KINDS, weights=kinds or INSTRUCTED_KIND_WEIGHTS)[0]
    if kind == "answer":
        suffix, target = rng.choice(ANSWER_ONLY), q.answer
    elif kind == "tagged":
        tag = rng.choice(TAGS)
        suffix, target = f" Write the answer between <{tag}> and </{tag}>.", f"<{tag}> {q.answer} </{tag}>"
    else:  # the objects named by the instruction, or left for the model to read from the question
        named = [what for what, _ in grounding_asks(q.question)]
        what = ("the " if extreme(q.question) else "all ") + " and ".join(named)
        suffix, start = boxes_instruction(rng, what if kind == "boxes" else rng.choice(UNNAMED))
        if long_share and rng.random() < long_share:
            suffix = " " + " ".join(rng.sample(INSTRUCTION_SENTENCES, rng.randint(2, 5))) + suffix
        boxes = named_boxes(q, frame)
        target = f"{start.format(boxes=boxes)} {q.answer}"
    return Example(q.scene.render(), question_text(q.question, "direct") + suffix, target, f"instructed/{kind}")


def boxes_instruction(rng: random.Random, what: str) -> tuple[str, str]:
    """An instruction to write the boxes of ``what`` between two tags (never GRIT's), then the answer after a third
    one; and the reply's start, a format string with ``{boxes}``."""
    seen, t2 = rng.sample(TAGS, 2)
    suffix = (
        f" First, write the boxes of {what} in JSON with key 'bbox_2d' between <{seen}> and </{seen}>. "
        f"Then, write the answer after <{t2}>."
    )
    return suffix, f"<{seen}> {{boxes}} </{seen}> <{t2}>"


# Families of the reasoning task: spatial questions need a comparison of two written boxes, the hop a one-pass
# answer misses (direct spatial accuracy stays at chance); counting needs the boxes counted.
REASONING_FAMILIES = {"spatial": 0.6, "counting": 0.2, "existence": 0.1, "attribute": 0.1}
# Images of the reasoning task: none, or another scene's. With the question's own image the base kept answering
# spatial questions from it (at chance: 0.60 after 350 steps of 32 examples; 0.43-0.48 inside a stage-3 mix at 1000
# steps); with the boxes alone it learned to compare them (0.74 after 200 steps; measured, docs/EXPERIMENTS.md).
# Another scene's image keeps image tokens in the context, as a chain has them, while the boxes stay the only evidence.
REASONING_IMAGES = ("none", "other")
REASONING_IMAGE_KINDS = ("none", "other", "own")
# Prompt forms of the reasoning task: the question alone; the question and an answer-only instruction after it; the
# question and an instruction to write the boxes between two tags, then the answer (the boxes given between them).
# A base taught on the question alone compared given boxes right 0.97 of the time, and 0.64 behind GRIT's instruction
# (measured): an instruction after the question hid its relation word.
REASONING_FORMS = ("question", "answer_only", "boxes_between_tags", "long_instruction")
# Sentences of the long instructions (two to five of them after the question; never GRIT's instruction or tags).
INSTRUCTION_SENTENCES = (
    "Look at the image carefully.",
    "Each shape has a colour, a kind and a place in the picture.",
    "Coordinates are in pixels, counted from the top left corner.",
    "Use the boxes to decide.",
    "Consider every object in the scene before you reply.",
    "Write the coordinates in JSON with key 'bbox_2d' where they help.",
    "Keep the reply short and plain.",
    "Think about where each shape is and how they relate.",
    "A box holds the left, top, right and bottom edges of an object.",
    "Do not guess: check the picture first.",
)


def reasoning_example(
    rng: random.Random,
    cfg: WorldConfig,
    frame: Frame,
    image: str | None = None,
    families: Mapping[str, float] | None = None,
    images: Sequence[str] | None = None,
    forms: Sequence[float] | None = None,
) -> Example:
    """Reasoning over boxes already written: the question, then a reply whose start is *given* (the boxes of the
    objects the question names, one JSON list per object group, in the question's order, the truth) and whose end,
    the answer, is learned. A language skill, like an LLM's: compare two boxes, count the listed boxes, read a
    label. Never GRIT's instruction, tags or chain layout.

    e.g. "Question: Is the red circle left of the blue square?" -> given ``[{"bbox_2d": ..}] [{"bbox_2d": ..}]
    answer:``, target ``yes``. ``image``: ``none``, ``other`` (another scene's; the default picks one of the two)
    or ``own`` (the question's, for held-out measurement as a chain sees it). ``families`` (weights) and ``images``
    (drawn from when ``image`` is not given) default to :data:`REASONING_FAMILIES` and :data:`REASONING_IMAGES`;
    ``forms``: weights of :data:`REASONING_FORMS` (default: the question alone)."""
    families = families or REASONING_FAMILIES
    family = rng.choices(list(families), weights=list(families.values()))[0]
    q = make_question(rng, cfg, family, rng.randrange(1000))
    boxes = named_boxes(q, frame)
    image = image or rng.choice(images or REASONING_IMAGES)
    if image == "other":
        other = make_scene(rng, cfg)
        while other is None:
            other = make_scene(rng, cfg)
        picture = other.render()
    else:
        picture = q.scene.render() if image == "own" else None
    prompt, given = question_text(q.question, "direct"), reasoning_reply(boxes)
    form = rng.choices(REASONING_FORMS, weights=forms or (1.0,) + (0.0,) * (len(REASONING_FORMS) - 1))[0]
    if form == "answer_only":  # an instruction after the question, as real prompts put one
        prompt += rng.choice(ANSWER_ONLY)
    elif form == "boxes_between_tags":  # the instructed task's layout with the boxes given
        suffix, start = boxes_instruction(rng, rng.choice(UNNAMED))
        prompt, given = prompt + suffix, start.format(boxes=boxes)
    elif form == "long_instruction":  # the question far from the boxes, as behind any long instruction
        prompt += " " + " ".join(rng.sample(INSTRUCTION_SENTENCES, rng.randint(2, 5)))
    return Example(picture, prompt, q.answer, f"reasoning/{family}", given=given)


def reasoning_reply(boxes: str) -> str:
    """The given start of a reasoning reply: the boxes' JSON lists, then ``answer:``."""
    return f"{boxes} answer:"


def sample_example(
    rng: random.Random,
    cfg: WorldConfig,
    frame: Frame,
    mix: dict[str, float],
    present_share: float = 0.0,
    reasoning_families: Mapping[str, float] | None = None,
    reasoning_images: Sequence[str] | None = None,
    reasoning_forms: Sequence[float] | None = None,
    group_share: float = 0.0,
    extreme_share: float = 0.0,
    instructed: Mapping[str, Any] | None = None,
) -> Example:
    """One example of a task drawn from ``mix``; ``instructed``: keyword arguments of :func:`instructed_example`."""
    task = rng.choices(list(mix), weights=list(mix.values()))[0]
    if task == "tags":
        return tag_example(rng, cfg, frame)
    if task == "instructed":
        return instructed_example(rng, cfg, frame, **(instructed or {}))
    if task == "reasoning":
        return reasoning_example(
            rng, cfg, frame, families=reasoning_families, images=reasoning_images, forms=reasoning_forms
        )
    if task == "grounding" and (group_share or extreme_share):  # no draw otherwise: older recipes keep their stream
        draw = rng.random()
        if draw < group_share:
            return named_grounding_example(make_question(rng, cfg, "counting", rng.randrange(1000)), frame)
        if draw < group_share + extreme_share:
            return named_grounding_example(extreme_question(rng, cfg, rng.randrange(2)), frame)
    family = rng.choice(QUESTION_FAMILIES)
    q = make_question(rng, cfg, family, rng.randrange(1000))
    if task == "grounding":
        return grounding_example(q.scene, rng, frame, cfg.colours, cfg.shapes, present_share)
    return direct_example(q)


def image_dependent_ids(tokenizer, max_number: int) -> set[int]:
    """Token ids whose value depends on the image: numbers, colours, shapes, yes/no, none."""
    words = [str(n) for n in range(max_number + 1)] + [
        "yes",
        "no",
        "none",
        "red",
        "green",
        "blue",
        "yellow",
        "circle",
        "square",
        "triangle",
    ]
    ids = set()
    for w in words:
        for text in (w, " " + w):
            ids.update(tokenizer(text, add_special_tokens=False)["input_ids"])
    ids -= set(tokenizer(" ", add_special_tokens=False)["input_ids"])
    return ids


def collate(processor, examples: list[Example], weighted_ids: set[int], weight: float):
    """Token batch: ``input_ids``, ``attention_mask``, vision inputs, ``labels`` (-100 outside targets: the prompt
    and an example's ``given`` reply start) and ``weights`` (``weight`` on image-dependent target tokens, 1
    elsewhere)."""
    import torch

    tok = processor.tokenizer
    texts = []
    for ex in examples:
        content = ([{"type": "image"}] if ex.image is not None else []) + [{"type": "text", "text": ex.prompt}]
        messages = [{"role": "user", "content": content}]
        prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        texts.append(prompt + (ex.given + " " if ex.given else "") + ex.target + "<|im_end|>")
    tok.padding_side = "right"
    images = [ex.image for ex in examples if ex.image is not None]
    batch = processor(text=texts, images=images or None, padding=True, return_tensors="pt")
    ids = batch["input_ids"]
    start_id = tok.convert_tokens_to_ids("<|im_start|>")
    head = len(tok("assistant\n", add_special_tokens=False)["input_ids"])
    labels = torch.full_like(ids, -100)
    weights = torch.zeros(ids.shape, dtype=torch.float32)
    for row in range(ids.shape[0]):
        starts = (ids[row] == start_id).nonzero().flatten()
        begin = int(starts[-1]) + 1 + head
        end = int(batch["attention_mask"][row].sum())
        if examples[row].given:  # the target's tokens end the row (a space starts it, so BPE cannot merge across)
            begin = end - len(tok(" " + examples[row].target + "<|im_end|>", add_special_tokens=False)["input_ids"])
        labels[row, begin:end] = ids[row, begin:end]
        for col in range(begin, end):
            weights[row, col] = weight if int(ids[row, col]) in weighted_ids else 1.0
    batch["labels"], batch["weights"] = labels, weights
    return batch
