"""One question about one image: generate, parse the chain, place its boxes in original pixels, draw them."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from grit.chain import Chain, parse
from grit.grounding import PlacedBox, frame_for, place_boxes
from grit.metrics import prediction_of
from grit.models.generation import GenerationSettings, generate
from grit.models.loading import Policy
from grit.prompts import CHAINLESS_PROMPTS
from grit.render import draw_boxes


@dataclass(frozen=True)
class InferResult:
    text: str
    chain: Chain
    boxes: tuple[PlacedBox, ...]
    prompt: str = "grounded"

    @property
    def answer(self) -> str | None:
        """The answer, by the rule ``grit eval`` scores with (:func:`grit.metrics.prediction_of`)."""
        return prediction_of(self.text, self.prompt)


def infer(
    policy: Policy,
    image: Image.Image,
    question: str,
    kind: str = "grounded",
    settings: GenerationSettings = GenerationSettings(batch_size=1),
) -> InferResult:
    text = generate(policy, [image], [question], kind, settings)[0]
    chain = parse(text)
    frame = frame_for(policy.frame, image.width, image.height)
    return InferResult(text, chain, place_boxes(chain, frame, "any"), kind)


def annotate(image: Image.Image, result: InferResult, scale: float | None = None) -> Image.Image:
    """The image with the chain's well-formed boxes drawn and numbered in reading order (labels where given)."""
    placed = [p for p in result.boxes if p.original is not None]
    scale = scale or max(1.0, 448 / max(image.width, image.height))
    return draw_boxes(image, [p.original for p in placed], [p.box.label for p in placed], scale)


def _format_line(result: InferResult) -> str:
    if result.chain.strict:
        return "complete chain"
    if result.prompt in CHAINLESS_PROMPTS:  # no chain was asked for: its absence is no fault
        return f"no chain (the {result.prompt} prompt asks for none)"
    return "; ".join(result.chain.problems)


def describe(result: InferResult) -> str:
    """A plain-text account: the completion, the answer, and each box in the model's frame and in pixels."""
    lines = [
        "completion:",
        result.text,
        "",
        f"answer: {result.answer!r}",
        f"format: {_format_line(result)}",
    ]
    if not result.boxes:
        lines.append("boxes: none")
    for i, p in enumerate(result.boxes, 1):
        coords = ", ".join(f"{v:g}" for v in p.box.coords)
        where = "" if p.original is None else " -> pixels [" + ", ".join(f"{v:.1f}" for v in p.original) + "]"
        lines.append(
            f"box {i} ({p.box.segment or 'outside'}, {p.box.label or 'no label'}): [{coords}]{where}"
            + (f"  ({p.problem})" if p.problem else "")
        )
    return "\n".join(lines)
