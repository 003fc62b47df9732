"""The tiny model's tokenizer: byte-level BPE trained here on the pipeline's own text, in Qwen2's format.

- Qwen2's pre-tokenizer (digits split one by one) and its 14 special tokens, so the real Qwen2.5-VL chat template
  and processor work unchanged.
- Added (non-special) tokens that make a box short, which matters because generation dominates a GRPO step
  (measured in the project's first prototypes): the JSON scaffold ``{"bbox_2d": [``, ``], "label": "``,
  ``"}``, the separator ``", "``, and whole numbers ``10`` .. ``max_number`` (a coordinate is one token, not two or
  three digits; the prototypes measured 2.7x better grounding recall with whole-number tokens).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from grit.data.shapes import COLOURS, SHAPES, plural
from grit.pretrain.tasks import GROUNDING_TEMPLATE
from grit.prompts import COT_SUFFIX, GROUNDED_SUFFIX, SFT_SUFFIX, icl_example

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
BOX_SCAFFOLD_TOKENS = ('{"bbox_2d": [', '], "label": "', '"}', ", ")
NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty"
).split()
TAG_NAMES = (
    "think",
    "rethink",
    "answer",
    "view",
    "look",
    "plan",
    "note",
    "out",
    "res",
    "c",
    "s",
    "n",
    "count",
    "colour",
    "shape",
    "where",
    "box",
    "final",
    "reason",
    "check",
    "step",
    "obs",
    "sum",
    "idea",
    "q",
    "a",
    "result",
    "boxes",
    "scene",
    "list",
    "verify",
    "draft",
    "info",
    "detail",
    "main",
    "extra",
    "tag",
    "memo",
    "focus",
    "see",
)
SENTENCES = (
    "You are a helpful assistant.",
    "Based on the bounding box coordinates, the answer is clear.",
    "Let me check them out.",
    "Looking at the image, I can see the shapes and their positions.",
    "The box of the object is left of the other box, so the answer is yes.",
    "There are no such objects in the picture, so the count is zero.",
    "Answer with a single word or number.",
    "The first object is above the second one; the second is below the first.",
    "I found the objects, counted their boxes and compared their positions.",
)


def tokenizer_corpus(lines: int = 20000, seed: int = 0) -> Iterator[str]:
    """Text covering what the pipeline says: prompts, questions, answers, tags, labels, boxes and numbers."""
    rng = random.Random(seed)
    colours, relations = list(COLOURS), ["left of", "right of", "above", "below"]
    yield from SENTENCES
    yield from (GROUNDED_SUFFIX, COT_SUFFIX, SFT_SUFFIX, icl_example("json"), icl_example("internvl"))
    for _ in range(lines):
        c1, c2, s1, s2 = rng.choice(colours), rng.choice(colours), rng.choice(SHAPES), rng.choice(SHAPES)
        x, y = rng.randint(0, 200), rng.randint(0, 200)
        box = f'{{"bbox_2d": [{x}, {y}, {x + rng.randint(5, 40)}, {y + rng.randint(5, 40)}], "label": "{c1} {s1}"}}'
        tag = rng.choice(TAG_NAMES)
        yield rng.choice(
            [
                f"\nQuestion: How many {c1} {plural(s1)} are there?{GROUNDED_SUFFIX}",
                f"\nQuestion: Is the {c1} {s1} {rng.choice(relations)} the {c2} {s2}?",
                f"\nQuestion: Is there a {c1} {s1}?",
                f"\nQuestion: What colour is the {s1}? What shape is the {c2} object?",
                GROUNDING_TEMPLATE.format(what=f"{c1} {plural(s1)}"),
                f"[{box}, {box}]",
                f"<think> {box} </think> <rethink> {rng.choice(SENTENCES)} </rethink> "
                f"<answer> {rng.choice(['yes', 'no', str(rng.randint(0, 9))])} </answer>",
                f"<{tag}> {rng.choice(NUMBER_WORDS)} {c1} {s1} </{tag}> "
                f"<{rng.choice(TAG_NAMES)}> {rng.choice(['yes', 'no', 'none'])}",
                f"{rng.choice(NUMBER_WORDS)} {plural(s2)}, "
                f"{rng.randint(0, 999)} {rng.randint(0, 9)}.{rng.randint(0, 99)}",
            ]
        )


def train_tokenizer(
    vocab_size: int = 768,
    max_number: int = 255,
    seed: int = 0,
    extra_special: tuple[str, ...] = (),
    named_special: dict[str, str] | None = None,
):
    """Train the BPE on :func:`tokenizer_corpus` and wrap it as a transformers ``Qwen2Tokenizer``.

    ``extra_special`` adds special tokens; ``named_special`` adds special tokens that processors look up by
    attribute (InternVL's ``start_image_token`` and the like), saved in the tokenizer config."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    bpe.train_from_iterator(tokenizer_corpus(seed=seed), trainer)
    model = bpe.model
    vocab = bpe.get_vocab()
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in _merges(model)]
    kwargs = {"model_specific_special_tokens": dict(named_special)} if named_special else {}
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        **kwargs,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIAL_TOKENS) + list(extra_special)})
    extra = list(BOX_SCAFFOLD_TOKENS) + [str(n) for n in range(10, max_number + 1)]
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in extra])
    return tokenizer


def _merges(model) -> list:
    """The merges of a trained tokenizers BPE model (read back through its JSON state)."""
    import json

    state = json.loads(model.__getstate__())
    return state["merges"]
