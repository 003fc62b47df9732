"""Batched generation for inference and evaluation: chat template, processor, ``generate``, decoding.

Prompts are grouped by their token length, so a batch never holds padding: a row's result then does not depend
on which other rows share its batch, which keeps evaluation identical at any batch size (the reference's
numbers changed with the batch size, GRIT issue #10).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image

from grit.models.loading import Policy
from grit.prompts import CHAIN_PROMPTS, user_message


class PromptTooLong(ValueError):
    """A prompt that leaves no room in the model's context for the tokens asked of it: past its position limit a
    model writes noise that would be scored as wrong answers. ``index`` is the prompt's place in the call."""

    def __init__(self, index: int, tokens: int, max_new_tokens: int, limit: int, where: str = ""):
        self.index, self.tokens, self.max_new_tokens, self.limit = index, tokens, max_new_tokens, limit
        super().__init__(
            (f"{where}: " if where else "") + f"the prompt is {tokens:,} tokens (question, instruction and image); "
            f"with {max_new_tokens} new tokens that passes the model's context of {limit:,} tokens"
        )

    def at(self, where: str) -> PromptTooLong:
        """The same error, said of the sample at ``where`` (``file:line``)."""
        return PromptTooLong(self.index, self.tokens, self.max_new_tokens, self.limit, where)


def context_limit(policy: Policy) -> int | None:
    """The positions the language model reads (``max_position_embeddings``), or None where the config names none."""
    config = policy.model.config
    for part in (getattr(config, "text_config", None), config, getattr(config, "llm_config", None)):
        limit = getattr(part, "max_position_embeddings", None) if part is not None else None
        if isinstance(limit, int) and limit > 0:
            return limit
    return None


def text_lengths(policy: Policy, questions: Sequence[str], kind: str) -> list[int]:
    """Each prompt's tokens before the processor adds the image's: a lower bound of its length, found without
    reading any image, so that a data set's overlong questions are found before anything is generated."""
    texts = prompt_texts(policy, questions, kind)
    return [len(ids) for ids in policy.tokenizer(texts, add_special_tokens=False)["input_ids"]]


def overlong(policy: Policy, samples: Sequence, kind: str, new_tokens: int) -> tuple[int | None, list[tuple]]:
    """The model's context and the ``(sample, prompt tokens)`` of every sample whose question leaves no room for
    ``new_tokens`` in it (:func:`text_lengths`: found before any image is read); no context, nothing found."""
    limit = context_limit(policy)
    if limit is None:
        return None, []
    lengths = text_lengths(policy, [s.question for s in samples], kind)
    return limit, [(s, n) for s, n in zip(samples, lengths) if n + new_tokens > limit]


def overlong_problem(long: Sequence[tuple], limit: int, flag: str, new_tokens: int) -> str:
    """The first of ``long`` (:func:`overlong`), named by file and line, and how many more."""
    s, n = long[0]
    more = f" (and {len(long) - 1} more)" if len(long) > 1 else ""
    return (
        f"{s.source or s.id}: the prompt is at least {n:,} tokens{more}; with {flag} {new_tokens} that passes the "
        f"model's context of {limit:,} tokens"
    )


def check_context(policy: Policy, lengths: Sequence[int], max_new_tokens: int) -> None:
    """Raise :class:`PromptTooLong` for the first prompt length that leaves no room for ``max_new_tokens``."""
    limit = context_limit(policy)
    if limit is None:
        return
    for i, n in enumerate(lengths):
        if n + max_new_tokens > limit:
            raise PromptTooLong(i, n, max_new_tokens, limit)


def control_tokens(policy: Policy) -> list[str]:
    """The tokenizer's special tokens (the chat template's turn and image markers, such as ``<|image_pad|>``),
    longest first. A question holding one would be read as that marker, not as words: the processor then counts an
    image placeholder the image does not fill, or a turn ends inside the question."""
    tok = policy.tokenizer
    found = {str(t) for t in getattr(tok, "all_special_tokens", None) or ()}
    for added in (getattr(tok, "added_tokens_decoder", None) or {}).values():
        if getattr(added, "special", False):
            found.add(str(added.content))
    return sorted((t for t in found if t), key=lambda t: (-len(t), t))


def control_token_in(text: str, tokens: Sequence[str]) -> str | None:
    """The first of ``tokens`` (:func:`control_tokens`) that ``text`` holds."""
    return next((t for t in tokens if t in text), None)


def control_token_problem(policy: Policy, samples: Sequence) -> tuple[list, str | None]:
    """The samples whose question holds one of the model's control tokens, and the first said by file and line."""
    tokens = control_tokens(policy)
    bad = [(s, t) for s in samples if (t := control_token_in(s.question, tokens))]
    if not bad:
        return [], None
    s, token = bad[0]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return [s for s, _ in bad], (
        f"{s.source or s.id}: field 'question' holds {token!r}, a control token of the model's chat template{more}; "
        "remove it from the question (the template adds the image and turn markers itself)"
    )


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 256
    do_sample: bool = False
    temperature: float = 1.0
    batch_size: int = 16
    stop_at_answer: bool = True


def prompt_texts(policy: Policy, questions: Sequence[str], kind: str) -> list[str]:
    syntax = policy.family.box_syntax
    return [
        policy.processor.apply_chat_template(user_message(q, kind, syntax), add_generation_prompt=True, tokenize=False)
        for q in questions
    ]


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """The text up to and including the first stop string (generation can run a few characters past it)."""
    cuts = [text.index(s) + len(s) for s in stops if s in text]
    return text[: min(cuts)] if cuts else text


def stop_strings(policy: Policy, kind: str, settings: GenerationSettings) -> list[str]:
    """The strings that end a completion: the family's ``</answer>`` for prompts that ask for an answer block."""
    return list(policy.stop_strings) if settings.stop_at_answer and kind in CHAIN_PROMPTS else []


def generation_kwargs(policy: Policy, settings: GenerationSettings, stops: Sequence[str]) -> dict:
    """Keyword arguments of ``model.generate`` for these settings (greedy unless ``do_sample``)."""
    kwargs: dict = dict(max_new_tokens=settings.max_new_tokens, do_sample=settings.do_sample)
    if settings.do_sample:
        kwargs["temperature"] = settings.temperature
    else:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    if stops:
        kwargs.update(stop_strings=list(stops), tokenizer=policy.tokenizer)
    return kwargs


def batches(
    policy: Policy,
    images: Sequence[Image.Image],
    questions: Sequence[str],
    kind: str,
    batch_size: int,
    reply_starts: Sequence[str] | None = None,
    max_new_tokens: int = 0,
):
    """``(indices, batch)`` pairs covering every (image, question) once: each batch holds prompts of one token
    length and image grid (no padding), with ``reply_starts`` written at the start of the replies. Every prompt is
    encoded first; one with no room left for ``max_new_tokens`` raises :class:`PromptTooLong` before any batch."""
    import torch

    texts = prompt_texts(policy, questions, kind)
    if reply_starts is not None:
        texts = [text + start for text, start in zip(texts, reply_starts, strict=True)]
    encoded = [policy.processor(text=[t], images=[im], return_tensors="pt") for t, im in zip(texts, images)]
    check_context(policy, [enc["input_ids"].shape[1] for enc in encoded], max_new_tokens)
    groups: dict[tuple, list[int]] = {}
    for i, enc in enumerate(encoded):
        key = (
            enc["input_ids"].shape[1],
            tuple(enc["image_grid_thw"].flatten().tolist()) if "image_grid_thw" in enc else (),
        )
        groups.setdefault(key, []).append(i)
    device = next(policy.model.parameters()).device
    for indices in groups.values():
        for lo in range(0, len(indices), batch_size):
            chunk = indices[lo : lo + batch_size]
            yield chunk, {k: torch.cat([encoded[i][k] for i in chunk]).to(device) for k in encoded[chunk[0]]}


def generate(
    policy: Policy,
    images: Sequence[Image.Image],
    questions: Sequence[str],
    kind: str = "grounded",
    settings: GenerationSettings = GenerationSettings(),
    reply_starts: Sequence[str] | None = None,
    on_batch: Callable[[list[int], list[str]], None] | None = None,
) -> list[str]:
    """One completion per (image, question), in input order; ``reply_starts`` (one per question) are written at
    the start of the reply, and the completion continues them (they are not part of the returned text);
    ``on_batch(indices, texts)`` is called after each batch (for a progress bar)."""
    return _generate(policy, images, questions, kind, settings, reply_starts, on_batch, scored=False)[0]


def generate_with_confidence(
    policy: Policy,
    images: Sequence[Image.Image],
    questions: Sequence[str],
    kind: str = "direct",
    settings: GenerationSettings = GenerationSettings(),
    on_batch: Callable[[list[int], list[str]], None] | None = None,
) -> tuple[list[str], list[float]]:
    """:func:`generate`'s completions and, from the same forward pass, :func:`first_token_confidence`'s value for
    each (the same numbers: both read the last prompt position's logits alone)."""
    texts, confidence = _generate(policy, images, questions, kind, settings, None, on_batch, scored=True)
    return texts, confidence  # type: ignore[return-value]


def _generate(policy, images, questions, kind, settings, reply_starts, on_batch, scored: bool):
    import torch

    stops = stop_strings(policy, kind, settings)
    outputs: list[str | None] = [None] * len(questions)
    confidence: list[float] | None = [0.0] * len(questions) if scored else None
    extra = {"output_logits": True, "return_dict_in_generate": True} if scored else {}
    for chunk, batch in batches(
        policy, images, questions, kind, settings.batch_size, reply_starts, settings.max_new_tokens
    ):
        with torch.no_grad():
            out = policy.model.generate(**batch, **generation_kwargs(policy, settings, stops), **extra)
        if scored:
            top = out.logits[0].float().softmax(-1).max(-1).values  # the first new token's distribution
            for i, p in zip(chunk, top.tolist()):
                confidence[i] = p
            out = out.sequences
        new = out[:, batch["input_ids"].shape[1] :]
        decoded = policy.tokenizer.batch_decode(new, skip_special_tokens=True)
        for i, text in zip(chunk, decoded):
            outputs[i] = cut_at_stop(text, stops) if stops else text
        if on_batch is not None:
            on_batch(chunk, [outputs[i] for i in chunk])
    return outputs, confidence


def first_token_confidence(
    policy: Policy,
    images: Sequence[Image.Image],
    questions: Sequence[str],
    kind: str = "direct",
    batch_size: int = 16,
    on_batch: Callable[[list[int]], None] | None = None,
) -> list[float]:
    """The probability the model gives its most likely first reply token, per (image, question): how sure its
    greedy reply is of how it starts (for a one-word direct answer, of the answer). Read off the last prompt
    position's logits alone, as generation's first step reads them (:func:`generate_with_confidence` gives the same
    numbers from its own pass)."""
    import torch

    confidence: list[float] = [0.0] * len(questions)
    for chunk, batch in batches(policy, images, questions, kind, batch_size):
        with torch.no_grad():
            top = policy.model(**batch, logits_to_keep=1).logits[:, -1].float().softmax(-1).max(-1).values
        for i, p in zip(chunk, top.tolist()):
            confidence[i] = p
        if on_batch is not None:
            on_batch(chunk)
    return confidence
