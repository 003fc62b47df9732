"""The label-free format warm start for the tiny model (a deviation from the paper, used only by the quickstart).

A weak base never samples the think/rethink/answer structure under the grounded prompt, so GRPO-GR sees no
positive advantage for it (docs/EXPERIMENTS.md). The warm start shows it the layout with nothing but its
*own* outputs: for each unlabeled (image, question), the base lists the boxes of every shape in the picture, each
with its own label, and each object group the question names gets the listed boxes whose label fits it
(:func:`listed_groups`; ``boxes_from="named"`` grounds each group with its grounding prompt instead,
:func:`grit.pretrain.tasks.grounding_asks`, as does the one shape a superlative picks), then writes
the answer after those boxes (its reasoning over them, a pretraining skill:
:func:`grit.pretrain.tasks.reasoning_example`), and a few SFT steps teach a chain of them. The quickstart's layout,
``recheck``, is the paper's order: ``<think> [{its boxes of group 1}] [{its boxes of group 2}] answer: {its answer}
</think> <rethink> [{the same boxes}] [{...}] </rethink> <answer> {its answer} </answer>``. The rethink writes the
boxes again so that the answer comes right after boxes, where the base reads them (0.79-0.82 of spatial questions
read right through ``</think> <answer>`` or a rethink of boxes, 0.51 through a rethink of words): the tiny model
never learned to repeat a word it wrote, so a rethink that restates the think's answer in words was not copied into
the answer (docs/EXPERIMENTS.md). With ``agree`` only the chains whose read-off answer agrees with the base's direct
answer, or whose direct answer is unsure (``sure``), are kept (see :func:`self_chains`). No gold answer and no gold
box is read. Referents are read from the question text (shapes-world phrasing). The other layouts (``reasoning``,
``boxes_first``, ``guess_first``, ...) measured below it with the tiny base (docs/EXPERIMENTS.md).
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace

import torch
from PIL import Image

from grit.answers import verify
from grit.chain import box_item, parse, render, render_box
from grit.data.shapes import extreme, phrase, referents
from grit.models.generation import GenerationSettings, generate, generate_with_confidence
from grit.models.loading import Policy
from grit.pretrain.optim import clip_and_step
from grit.pretrain.tasks import LISTING_PROMPT, Example, collate, grounding_asks, reasoning_reply
from grit.progress import Stage, figures, finish, phase, start
from grit.prompts import question_text


@dataclass(frozen=True)
class SelfChain:
    image: Image.Image
    question: str
    chain: str
    corrected: bool = False  # its think holds a first look that its rethink corrects (``correct``)


LAYOUTS = ("recheck", "reasoning", "boxes_first", "boxes_then_answer", "named", "guess_first")
READ_OFF = ("recheck", "reasoning", "boxes_first")  # layouts whose answer the base writes after its own boxes
# Where a chain's boxes come from, and how the quickstart names each source (docs/EXPERIMENTS.md).
BOX_SOURCES = {
    "listing": "its listing of every shape",  # one listing; each group the listed boxes whose own label fits it
    "named": "its grounding prompt per group",  # the base's grounding prompt for each group the question names
}
LISTING_TOKENS = 256  # ~17 tokens a box: room for 15 boxes; the world's largest scene holds 8 (max_objects)


def label_fits(label: str | None, colour: str | None, shape: str | None) -> bool:
    """Whether a box's own label ("red circle") names an object of the group ``(colour, shape)`` (None: any).

    >>> label_fits("red circle", "red", None), label_fits("red circle", None, "square"), label_fits(None, None, None)
    (True, False, False)
    """
    words = (label or "").strip().lower().split()
    return len(words) == 2 and colour in (None, words[0]) and shape in (None, words[1])


def listed_groups(question: str, boxes: Sequence) -> list[tuple[str, list]]:
    """Each object group the question names, in its order (as :func:`grit.pretrain.tasks.grounding_asks` names
    them), with the boxes of a listing of every shape whose own label fits it. A superlative's one shape is not a
    group a label picks ("the leftmost shape"); it is refused.

    >>> from grit.chain import parse
    >>> listing = parse('[{"bbox_2d": [1, 1, 9, 9], "label": "red circle"}, {"bbox_2d": [20, 1, 29, 9], '
    ...     '"label": "blue square"}]').boxes
    >>> groups = listed_groups("Is the blue square left of the red circle?", listing)
    >>> [(what, [b.coords for b in boxes]) for what, boxes in groups]
    [('blue squares', [(20.0, 1.0, 29.0, 9.0)]), ('red circles', [(1.0, 1.0, 9.0, 9.0)])]
    """
    if extreme(question):
        raise ValueError(
            f"{question!r} picks its shape by a superlative, not by a label; ground it with its own prompt"
        )
    return [(phrase(*group), [b for b in boxes if label_fits(b.label, *group)]) for group in referents(question)]


_WORD = re.compile(r"[a-z0-9]+")


def read_consistent(question: str, groups: Sequence[tuple[str, Sequence]], answer: str) -> bool:
    """Whether the answer a chain reads off its own boxes says what those boxes show, by the question's words
    (shapes-world phrasing): one word or number; for "How many", the number of boxes; for "What colour" or "What
    shape", the colour or shape word of every box's own label (at least one box); for "Is there", yes where a box
    was found. Other questions need only the one word. The policy's own boxes, labels and answer; no gold.

    >>> from grit.chain import parse
    >>> two = [("red circles", parse('[{"bbox_2d": [1, 1, 9, 9], "label": "red circle"}, '
    ...     '{"bbox_2d": [20, 1, 29, 9], "label": "red circle"}]').boxes)]
    >>> [read_consistent("How many red circles are there?", two, a) for a in ("2", "3", "2, 80]")]
    [True, False, False]
    >>> one = [("circles", two[0][1][:1])]
    >>> [read_consistent("What colour is the circle?", one, a) for a in ("red", "blue")]
    [True, False]
    """
    word = answer.strip().lower()
    if not _WORD.fullmatch(word):
        return False
    boxes = [b for _, bs in groups for b in bs]
    asked = question.strip().lower()
    if asked.startswith("how many"):
        return word == str(len(boxes))
    if asked.startswith(("what colour", "what shape")):
        at = 0 if asked.startswith("what colour") else -1
        labels = [(b.label or "").lower().split() for b in boxes]
        return bool(boxes) and all(len(words) == 2 and words[at] == word for words in labels)
    if asked.startswith("is there"):
        return word == ("yes" if boxes else "no")
    return True


def check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown warm-start layout {layout!r}; use one of {', '.join(LAYOUTS)}")


def self_chains(
    policy: Policy,
    images: Sequence[Image.Image],
    questions: Sequence[str],
    batch_size: int = 32,
    layout: str = "guess_first",
    progress: Stage | None = None,
    agree: bool = False,
    sure: float = 0.0,
    retries: int = 0,
    seed: int = 0,
    fallback: Collection[str] = (),
    correct: bool = False,
    boxes_from: str = "listing",
    consistent: bool = False,
) -> list[SelfChain]:
    """Chains built from the policy's own grounding and direct answers (no labels).

    ``layout``: ``boxes_then_answer`` lists every box, then answers in the rethink; ``named`` names each referent
    before its boxes ("Let me find the red circles: ..."); ``guess_first`` also states the direct answer first
    and checks it against the boxes in the rethink; ``boxes_first`` names and boxes each group, then gives the answer
    the policy writes when its own boxes start its reply; ``reasoning`` puts that reply (its boxes per group, then
    the answer) in the think; ``recheck`` too, and writes the boxes again in the rethink. ``agree`` (layouts that
    read the answer off the boxes): keep only the chains whose answer the policy's direct answer agrees with (two
    of its own answers; no label), a self-consistency filter; ``sure``: drop a chain only when the direct answer
    that disagrees is that sure of itself (the probability of its first token; 0 drops every disagreement), so that
    questions the policy cannot answer directly keep their chains; ``retries``: ground a chain that would be
    dropped again, sampling (temperature 1, ``seed``), up to this many times, and keep the first grounding whose
    read-off answer agrees (rejection sampling on the same two answers of its own: a greedy grounding that misses
    one of four circles gets another draw); ``correct`` (``recheck`` with ``retries``): a chain whose agreeing boxes
    came from a retry keeps its first, greedy look in the think (those boxes and the answer read off them) and the
    agreeing boxes in the rethink, the answer read off those: the rethink, which grounds again rather than copies
    (docs/EXPERIMENTS.md), shown correcting a first look where the policy's own draws correct it; ``fallback``:
    answer words (e.g. colours and shapes) for which a chain that would still be dropped is kept with its boxes and
    the sure direct answer written after them instead (the policy's own answer again); ``boxes_from``: ``named``
    grounds each group the question names with its own grounding prompt; ``listing`` asks the policy once for the boxes
    of every shape and gives each group the listed boxes whose own label fits it ("red circle" for the red circles;
    a superlative's one shape still from its own prompt): the policy's own boxes and labels, which found a named group
    exactly more often than its prompt for that group (docs/EXPERIMENTS.md); ``consistent`` (read-off layouts): drop,
    or with ``agree`` and ``retries`` draw again, a chain whose answer does not say what its own boxes show
    (:func:`read_consistent`).
    ``progress``: a :class:`grit.progress.Stage` to show progress in."""
    check_layout(layout)
    if boxes_from not in BOX_SOURCES:
        raise ValueError(f"unknown box source {boxes_from!r}; use one of {', '.join(BOX_SOURCES)}")
    read_off = layout in READ_OFF
    if (agree or consistent) and not read_off:
        raise ValueError(
            f"agree and consistent need a layout that reads the answer off the boxes: {', '.join(READ_OFF)}"
        )
    if correct and layout != "recheck":
        raise ValueError(f"correct needs the recheck layout (a rethink of boxes), not {layout!r}")
    greedy = GenerationSettings(max_new_tokens=100, batch_size=batch_size, stop_at_answer=False)
    short = GenerationSettings(max_new_tokens=8, batch_size=batch_size, stop_at_answer=False)

    def generated(
        name: str, unit: str, which: Sequence[int], prompts: Sequence[str], kind: str, settings, starts=None
    ):
        with phase(progress, name, len(which), unit) as bar:
            return generate(
                policy,
                [images[i] for i in which],
                prompts,
                kind,
                settings,
                reply_starts=starts,
                on_batch=lambda indices, _: bar.update(len(indices)),
            )

    def ground(which: Sequence[int], name: str, settings: GenerationSettings) -> dict[int, list[tuple[str, list]]]:
        listed = [i for i in which if not extreme(questions[i])] if boxes_from == "listing" else []
        asked = sorted(set(which) - set(listed))  # a superlative's one shape: its own grounding prompt
        asks = [(i, what, prompt) for i in asked for what, prompt in grounding_asks(questions[i])]
        found: dict[int, list[tuple[str, list]]] = {i: [] for i in which}
        if asks:
            texts = generated(name, "ask", [i for i, _, _ in asks], [p for _, _, p in asks], "plain", settings)
            for (i, what, _), text in zip(asks, texts):
                found[i].append((what, [b for b in parse(text).boxes if b.well_formed]))
        if listed:
            long = replace(settings, max_new_tokens=LISTING_TOKENS)
            texts = generated(f"{name}, listed", "image", listed, [LISTING_PROMPT] * len(listed), "plain", long)
            for i, text in zip(listed, texts):
                found[i] = listed_groups(questions[i], [b for b in parse(text).boxes if b.well_formed])
        return found

    def answer_of(text: str) -> str:  # a short reply's first line, as the answer
        return text.strip().split("\n")[0].strip() or "none"

    def own_answers(which: Sequence[int], name: str, starts: list[str] | None) -> list[str]:
        texts = generated(name, "question", which, [questions[i] for i in which], "direct", short, starts)
        return [answer_of(t) for t in texts]

    def read(which: Sequence[int], found: dict, name: str) -> list[str]:
        # read-off layouts: the answer the base writes after its own boxes; else its direct answer
        starts = [reasoning_reply_start(found[i]) for i in which] if read_off else None
        return own_answers(which, name, starts)

    everyone = range(len(questions))
    found = ground(everyone, "own boxes", greedy)
    answers = read(everyone, found, "own answers")
    confidence = [1.0] * len(questions)
    if agree and sure > 0:  # the direct answers and how sure each is, from one pass
        with phase(progress, "direct answers", len(images), "question") as bar:
            texts, confidence = generate_with_confidence(
                policy, images, questions, "direct", short, lambda indices, _: bar.update(len(indices))
            )
        direct = [answer_of(t) for t in texts]
    else:
        direct = own_answers(everyone, "direct answers", None) if agree else answers

    def kept(i: int, groups: list[tuple[str, list]], answer: str) -> bool:
        agrees = not agree or confidence[i] < sure or verify(answer, direct[i], None, questions[i])
        return agrees and (not consistent or read_consistent(questions[i], groups, answer))

    def dropped(i: int) -> bool:
        return not kept(i, found[i], answers[i])

    sampled = replace(greedy, do_sample=True)
    first = {i: (found[i], answers[i]) for i in everyone}  # the greedy look, before any retry
    retried: set[int] = set()
    for attempt in range(retries if agree else 0):
        again = [i for i in everyone if dropped(i)]
        if not again:
            break
        torch.manual_seed(seed * 1000 + attempt)
        drawn = ground(again, f"boxes again ({attempt + 1})", sampled)
        for i, answer in zip(again, read(again, drawn, f"answers again ({attempt + 1})")):
            if kept(i, drawn[i], answer):
                found[i], answers[i] = drawn[i], answer
                retried.add(i)
    words = {w.lower() for w in fallback}
    for i in everyone:
        if dropped(i) and direct[i].strip().lower() in words:
            answers[i] = direct[i]
    corrected = retried if correct else set()
    return [
        SelfChain(
            images[i],
            questions[i],
            chain_text(answers[i], found[i], layout, first[i] if i in corrected else None),
            i in corrected,
        )
        for i in everyone
        if not dropped(i)
    ]


def reasoning_reply_start(groups: Sequence[tuple[str, Sequence]]) -> str:
    """The start of the base's reasoning reply (:func:`grit.pretrain.tasks.reasoning_example`) holding the boxes
    found per object group, as the base writes them; the base continues it with the answer."""
    return reasoning_reply(box_lists(groups))


def box_lists(groups: Sequence[tuple[str, Sequence]]) -> str:
    """One JSON list of boxes per object group (``none`` for a group with no box), as the reasoning reply writes
    them."""
    lists = []
    for _, boxes in groups:
        rendered = [render_box([round(v) for v in coords], label, "json") for coords, label in map(box_item, boxes)]
        lists.append("[" + ", ".join(rendered) + "]" if rendered else "none")
    return " ".join(lists)


def chain_text(
    answer: str,
    groups: Sequence[tuple[str, Sequence]],
    layout: str = "guess_first",
    first_look: tuple[Sequence[tuple[str, Sequence]], str] | None = None,
) -> str:
    """A warm-start chain from an answer and the boxes found for each referent phrase (see :func:`self_chains`).
    ``first_look`` (``recheck`` only): the groups and answer of a first look for the think, which the rethink's
    ``groups`` and the ``answer`` then correct.

    >>> print(chain_text("2", [("red circles", [((1, 2, 9, 9), "red circle"), ((20, 2, 29, 9), "red circle")])]))
    ... # doctest: +NORMALIZE_WHITESPACE
    <think> My first answer is 2. Let me find the red circles: {"bbox_2d": [1, 2, 9, 9], "label": "red circle"}
    {"bbox_2d": [20, 2, 29, 9], "label": "red circle"} </think> <rethink> Checking these boxes, the answer is 2.
    </rethink> <answer> 2 </answer>
    """
    check_layout(layout)
    if layout == "recheck":  # the reasoning reply, then the same boxes again, right before the answer
        lists = box_lists(groups)
        seen, read = (box_lists(first_look[0]), first_look[1]) if first_look else (lists, answer)
        return render(f"{reasoning_reply(seen)} {read}", lists, answer)
    if first_look:
        raise ValueError(f"a first look needs the recheck layout, not {layout!r}")
    if layout == "reasoning":  # the base's reasoning reply: its boxes per group, then the answer it reads off them
        return render(reasoning_reply_start(groups) + f" {answer}", f"The boxes give {answer}.", answer)
    if layout == "boxes_first":  # the paper's order: the boxes of each object named, then the answer read off them
        think = []
        for what, boxes in groups:
            think += [f"Let me find the {what}:", *boxes] if boxes else [f"I find no {what}."]
        return render(think, f"Reading these boxes, the answer is {answer}.", answer)
    if layout == "boxes_then_answer":
        boxes = [b for _, bs in groups for b in bs]
        think = ["Let me find the objects.", *boxes] if boxes else ["I look for the objects and find none."]
        return render(think, f"Based on the {len(boxes)} boxes, the answer is {answer}.", answer)
    think = [f"My first answer is {answer}."] if layout == "guess_first" else []
    for what, boxes in groups:
        think += [f"Let me find the {what}:", *boxes] if boxes else [f"I find no {what}."]
    return render(think, f"Checking these boxes, the answer is {answer}.", answer)


def warm_start(
    policy: Policy,
    chains: Sequence[SelfChain],
    *,
    steps: int,
    lr: float,
    batch_size: int = 16,
    parts: int = 4,
    seed: int = 0,
    log=print,
    progress: Stage | None = None,
) -> list[float]:
    """A few SFT steps of the grounded prompt -> the policy's own chains; returns the losses. The vision tower
    stays frozen, as in pretraining. Each step's examples are sorted by length and run in ``parts`` micro-batches,
    each padded only to its own longest, their losses weighted by their target tokens: the batch's mean loss and
    gradient (to float rounding) on fewer tokens (:func:`length_parts`). ``progress``: a
    :class:`grit.progress.Stage` to show progress in."""
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
    bar = start(progress, "SFT", steps, "step")
    for _ in range(steps):
        picked = rng.sample(examples, min(batch_size, len(examples)))
        batches = [collate(policy.processor, part, set(), 1.0) for part in length_parts(picked, parts)]
        targets = [int((b["labels"][:, 1:] != -100).sum()) for b in batches]  # the tokens each loss averages over
        optimizer.zero_grad()
        total = 0.0
        for batch, n in zip(batches, targets):
            if not n:  # nothing to learn in this micro-batch (its loss would be 0/0)
                continue
            labels = batch.pop("labels")
            batch.pop("weights")
            loss = model(**batch, labels=labels).loss * (n / sum(targets))
            loss.backward()
            total += loss.item()
        clip_and_step(optimizer, trainable)
        losses.append(total)
        bar.update()
        bar.set_postfix(figures({"loss": losses[-1]}), refresh=False)
    finish(progress, bar)
    for p in frozen:
        p.requires_grad_(True)
    model.eval()
    log(f"warm start: {steps} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    return losses


def souped_warm_start(
    policy: Policy,
    chain_sets: Sequence[Sequence[SelfChain]],
    *,
    steps: int,
    lr: float,
    seed: int = 0,
    log=print,
    progress: Stage | None = None,
) -> list[list[float]]:
    """One :func:`warm_start` from the policy's weights on each of ``chain_sets`` (seeds ``seed``, ``seed + 1``,
    ...), then the policy set to the mean of their weights: a uniform model soup of fine-tunes from one start, which
    lands nearer the middle of where single warm starts scatter (docs/EXPERIMENTS.md). Returns each run's losses; one
    set is a plain warm start."""
    if len(chain_sets) == 1:
        return [warm_start(policy, chain_sets[0], steps=steps, lr=lr, seed=seed, log=log, progress=progress)]
    model = policy.model
    start_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    losses = []

    def tuned():
        for i, chains in enumerate(chain_sets):
            model.load_state_dict(start_weights)
            log(f"warm start {i + 1} of {len(chain_sets)} (seed {seed + i}, {len(chains)} chains)")
            losses.append(warm_start(policy, chains, steps=steps, lr=lr, seed=seed + i, log=log, progress=progress))
            yield model.state_dict()

    souped = soup_weights(start_weights, tuned())
    with torch.no_grad():
        model.load_state_dict(souped)
    log(f"warm start: the mean of {len(chain_sets)} warm starts' weights")
    return losses


def soup_weights(start: dict[str, torch.Tensor], tuned: Iterable[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The uniform mean of fine-tuned weights (a model soup), summed in float64 in the order given; ``start``'s
    entries that are not floating point (and any that no fine-tune holds) stay as they are. ``tuned`` may be a
    generator: each state dict is added as it comes, so only one is held at a time (and the generator may train
    between them: no gradient mode is set here; state dicts hold detached tensors)."""
    total: dict[str, torch.Tensor] = {}
    count = 0
    for weights in tuned:
        count += 1
        for k, v in weights.items():
            if v.is_floating_point():
                total[k] = total[k] + v.double() if k in total else v.double().clone()
    if not count:
        raise ValueError("soup_weights: no fine-tuned weights to average")
    return {k: (total[k] / count).to(v.dtype) if k in total else v for k, v in start.items()}


def length_parts(examples: Sequence[Example], parts: int) -> list[list[Example]]:
    """``examples`` sorted by the length of their prompt and target, cut into ``parts`` near-equal micro-batches.

    >>> examples = [Example(None, "q", target, "warm") for target in ("aaa", "a", "aa")]
    >>> [[e.target for e in part] for part in length_parts(examples, 2)]
    [['a', 'aa'], ['aaa']]
    """
    ordered = sorted(examples, key=lambda e: len(e.prompt) + len(e.given) + len(e.target))
    size = -(-len(ordered) // max(parts, 1))
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]
