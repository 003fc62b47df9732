"""Model families and what grit must know about each: how it writes boxes and in which coordinate frame.

Qwen2.5-VL writes absolute pixels of its *resized* input (the GRIT paper's setting); Qwen2-VL (its paper,
arXiv 2409.12191 section 2.2.1: coordinates normalised to [0, 1000)), InternVL3 and Qwen3-VL write 0-1000;
SmolVLM/Idefics3 and LLaVA have no grounding convention of their own, so grit asks them for 0-1000 boxes too. The
frame is what maps a box back to original pixels (:mod:`grit.boxes`).
"""

from __future__ import annotations

from dataclasses import dataclass

from grit.boxes import QWEN_MAX_PIXELS, QWEN_MIN_PIXELS, FrameSpec


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]  # transformers config.model_type values
    frame_kind: str  # resized | norm1000
    box_syntax: str  # the syntax of the one-shot ICL example (chain.BOX_SYNTAXES)
    stop_strings: tuple[str, ...] = ("</answer>",)

    def frame_spec(self, min_pixels: int = QWEN_MIN_PIXELS, max_pixels: int = QWEN_MAX_PIXELS) -> FrameSpec:
        """The frame of this family; resize settings matter only for the ``resized`` frame."""
        return FrameSpec(self.frame_kind, min_pixels, max_pixels)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("qwen2_5_vl", ("qwen2_5_vl",), "resized", "json"),
        Family("qwen2_vl", ("qwen2_vl",), "norm1000", "json"),
        Family("qwen3_vl", ("qwen3_vl", "qwen3_vl_moe"), "norm1000", "json"),
        Family("internvl", ("internvl",), "norm1000", "internvl"),
        Family("idefics3", ("idefics3", "smolvlm"), "norm1000", "json"),
        Family("llava", ("llava",), "norm1000", "json"),
    )
}


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise KeyError(f"unknown model family {name!r}; known families: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def family_of_model_type(model_type: str) -> Family:
    """The family of a transformers ``config.model_type``."""
    for family in FAMILIES.values():
        if model_type in family.model_types:
            return family
    raise KeyError(
        f"model type {model_type!r} is not a supported family ({', '.join(FAMILIES)}); "
        "grit needs to know its box frame to score and draw its boxes"
    )
