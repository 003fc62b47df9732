"""One question about one uploaded image, answered as a stream: the inputs checked, then a :class:`Answer` per new
token, each holding the partial chain read by :mod:`grit.demo.stream`. No gradio here.

Bad input raises :class:`InputProblem` with a message for the page: no image, a file that is not an image (or is
corrupt), an image over the 64 MP cap of :mod:`grit.data.images`, an empty question or one holding a control token
of the chat template, settings out of range.
Images under the cap are given to the processor as they are; it resizes them within the family's ``max_pixels``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from grit.boxes import Frame
from grit.data.images import ALLOWED_FORMATS, MAX_IMAGE_PIXELS, ImageProblem, load_image
from grit.demo.stream import PartialChain, read_partial
from grit.grounding import frame_for
from grit.metrics import prediction_of
from grit.models.generation import GenerationSettings, control_token_in, control_tokens
from grit.models.loading import Policy
from grit.models.streaming import stream_generate

MAX_NEW_TOKENS = 2048


class InputProblem(ValueError):
    """Input the page refuses, with a message saying what to do."""


def open_upload(path: str | Path | None) -> Image.Image:
    """The uploaded file as an RGB image, read with the guards of :func:`grit.data.images.load_image`."""
    if not path:
        raise InputProblem("Upload an image, or pick one of the examples.")
    try:
        return load_image(path)
    except ImageProblem as e:
        message = e.message.replace(str(path), Path(path).name)  # the server's copy means nothing to the user
        formats = ", ".join(sorted(ALLOWED_FORMATS))
        raise InputProblem(
            f"{message[:1].upper() + message[1:]}. The demo reads {formats} images of up to "
            f"{MAX_IMAGE_PIXELS / 1e6:g} megapixels."
        ) from e


def check_question(question: str | None, policy: Policy | None = None) -> str:
    """The question, stripped; refused when empty or when it holds a control token of ``policy``'s chat template."""
    question = (question or "").strip()
    if not question:
        raise InputProblem("Type a question about the image.")
    if policy is not None and (token := control_token_in(question, control_tokens(policy))):
        raise InputProblem(
            f"The question holds {token}, a control token of the model's chat template. Remove it: the page adds "
            "the image and turn markers itself."
        )
    return question


def generation_settings(max_new_tokens: float, temperature: float) -> GenerationSettings:
    """Greedy at temperature 0, sampling above."""
    if not (max_new_tokens and 1 <= max_new_tokens <= MAX_NEW_TOKENS):
        raise InputProblem(f"Max new tokens must be between 1 and {MAX_NEW_TOKENS}, got {max_new_tokens}.")
    if temperature is None or not math.isfinite(temperature) or temperature < 0:
        raise InputProblem(f"Temperature must be 0 (greedy) or more, got {temperature}.")
    return GenerationSettings(int(max_new_tokens), temperature > 0, temperature or 1.0, batch_size=1)


def model_input_note(policy: Policy, image: Image.Image) -> str:
    """How the model sees the image and in which frame it writes boxes."""
    frame = frame_for(policy.frame, image.width, image.height)
    size = f"{image.width}x{image.height} px"
    if frame.kind == "resized":
        seen = f"{round(frame.frame_width)}x{round(frame.frame_height)}"
        return (
            f"{size}; the model sees it resized to {seen} px (max_pixels {policy.frame.max_pixels:,}) and writes "
            f"boxes in those pixels."
        )
    return (
        f"{size}; the model writes boxes in the {frame.kind} frame ({frame.frame_width:g} x {frame.frame_height:g})."
    )


@dataclass(frozen=True)
class Answer:
    """One answer panel at one moment of the stream."""

    kind: str
    partial: PartialChain
    frame: Frame
    answer: str | None
    new_tokens: int
    max_new_tokens: int
    seconds: float
    done: bool = False
    cut_off: bool = False

    def status(self) -> str:
        """One line (Markdown) about the answer being written or finished."""
        count = len(self.partial.boxes)
        boxes = f"{count} box{'es' if count != 1 else ''}"
        if not self.done:
            return f"Writing ({self.kind} prompt): {self.new_tokens} tokens, {boxes} so far…"
        if self.cut_off:
            return (
                f"**Cut off** ({self.kind} prompt): the model reached the limit of {self.max_new_tokens} new tokens "
                f"before finishing, so the chain is incomplete ({boxes}). Raise *max new tokens* to let it finish."
            )
        return f"Done ({self.kind} prompt): {self.new_tokens} tokens in {self.seconds:.1f} s, {boxes}."


def ask(
    policy: Policy, image: Image.Image, question: str, kind: str, settings: GenerationSettings
) -> Iterator[Answer]:
    """Stream the model's answer; the last :class:`Answer` has ``done=True``."""
    frame = frame_for(policy.frame, image.width, image.height)
    started = time.monotonic()
    for streamed in stream_generate(policy, image, question, kind, settings):
        yield Answer(
            kind,
            read_partial(streamed.text, frame, streamed.done),
            frame,
            prediction_of(streamed.text, kind),
            streamed.new_tokens,
            settings.max_new_tokens,
            time.monotonic() - started,
            streamed.done,
            streamed.cut_off,
        )
