"""Streaming generation of one completion: ``model.generate`` in a thread, text handed back token by token.

The settings, prompt and stop strings are those of :func:`grit.models.generation.generate`, so a greedy stream
ends with the same text as a batch call. Used by ``grit demo`` to draw boxes while the chain is written.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image

from grit.models.generation import (
    GenerationSettings,
    check_context,
    cut_at_stop,
    generation_kwargs,
    prompt_texts,
    stop_strings,
)
from grit.models.loading import Policy


@dataclass(frozen=True)
class Streamed:
    """The completion so far. ``done`` on the last one; ``cut_off`` when it ended at ``max_new_tokens`` without
    the stop string or an end-of-text token (the chain is then incomplete)."""

    text: str
    new_tokens: int
    done: bool = False
    cut_off: bool = False


def _token_streamer(tokenizer):
    """transformers' ``TextIteratorStreamer`` holds text back until the next space (whole words); a box would
    then appear a word late. This one hands back every token, holding back only an incomplete UTF-8 character."""
    from transformers import TextIteratorStreamer

    class TokenStreamer(TextIteratorStreamer):
        new_tokens = 0

        def put(self, value):
            if self.skip_prompt and self.next_tokens_are_prompt:
                self.next_tokens_are_prompt = False
                return
            ids = value.reshape(-1).tolist()  # batch size 1
            self.new_tokens += len(ids)
            self.token_cache.extend(ids)
            text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
            if text.endswith("\ufffd"):
                return
            self.on_finalized_text(text[self.print_len :])
            self.print_len = len(text)

    return TokenStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)


def _stop_when(event: threading.Event):
    from transformers import StoppingCriteria

    class StopWhenSet(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            import torch

            return torch.full((input_ids.shape[0],), event.is_set(), dtype=torch.bool, device=input_ids.device)

    return StopWhenSet()


def _eos_ids(model) -> set[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    return set() if eos is None else {eos} if isinstance(eos, int) else set(eos)


def stream_generate(
    policy: Policy,
    image: Image.Image,
    question: str,
    kind: str = "grounded",
    settings: GenerationSettings = GenerationSettings(batch_size=1),
) -> Iterator[Streamed]:
    """Yield the completion as it grows; the last item has ``done=True`` and the final text (cut at the stop
    string, as :func:`~grit.models.generation.generate` does). Closing the iterator early stops generation."""
    import torch

    model = policy.model
    prompt = prompt_texts(policy, [question], kind)[0]
    inputs = policy.processor(text=[prompt], images=[image], return_tensors="pt").to(next(model.parameters()).device)
    check_context(policy, [inputs["input_ids"].shape[1]], settings.max_new_tokens)
    stops = stop_strings(policy, kind, settings)
    streamer, cancel, result = _token_streamer(policy.tokenizer), threading.Event(), {}

    def run() -> None:
        try:
            with torch.no_grad():
                result["ids"] = model.generate(
                    **inputs,
                    **generation_kwargs(policy, settings, stops),
                    streamer=streamer,
                    stopping_criteria=[_stop_when(cancel)],
                )
        except BaseException as e:  # re-raised in the caller's thread below
            result["error"] = e
            streamer.end()

    thread = threading.Thread(target=run, name="grit-stream-generate", daemon=True)
    thread.start()
    text = ""
    try:
        for piece in streamer:
            text += piece
            yield Streamed(cut_at_stop(text, stops) if stops else text, streamer.new_tokens)
    finally:
        cancel.set()
        thread.join()
    if "error" in result:
        raise result["error"]
    new = result["ids"][0, inputs["input_ids"].shape[1] :].tolist()
    final = policy.tokenizer.decode(new, skip_special_tokens=True)
    final = cut_at_stop(final, stops) if stops else final
    stopped = any(s in final for s in stops) or (bool(new) and new[-1] in _eos_ids(model))
    yield Streamed(final, len(new), done=True, cut_off=len(new) >= settings.max_new_tokens and not stopped)
