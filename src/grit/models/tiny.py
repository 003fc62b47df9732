"""The built-in tiny model: a Qwen2.5-VL (the class of ``Qwen/Qwen2.5-VL-3B-Instruct``) built from a config, with a
tokenizer trained here and an image processor matched to the shapes world, saved with ``save_pretrained``.

Sizes (parameters with the default tokenizer): ``micro`` ~0.2 M for unit tests, ``tiny`` ~1 M, ``small`` ~3.5 M.
A 112 px image is an 8 x 8 patch grid, merged 2 x 2 into 16 image tokens.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from grit.models.families import get_family

IMAGE_GRID = 28  # an image side's unit: the vision tower's 14-pixel patches, merged 2 x 2

SIZES = {
    # text hidden/layers/heads/kv heads/mlp, vision hidden/depth/heads/mlp
    "micro": (64, 2, 2, 1, 128, 32, 2, 2, 64),
    "tiny": (128, 4, 4, 2, 256, 64, 2, 4, 128),
    "small": (256, 4, 4, 2, 512, 128, 2, 4, 256),
}


def size_of(config) -> str | None:
    """The name in :data:`SIZES` whose shape a Qwen2.5-VL config has, or None (a model of another shape or family)."""
    text, vision = getattr(config, "text_config", None), getattr(config, "vision_config", None)
    text_dims = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size")
    vision_dims = ("hidden_size", "depth", "num_heads", "intermediate_size")
    shape = tuple(getattr(text, k, None) for k in text_dims) + tuple(getattr(vision, k, None) for k in vision_dims)
    return next((name for name, dims in SIZES.items() if dims == shape), None)


@dataclass(frozen=True)
class TinySpec:
    size: str = "tiny"
    image_size: int = 112
    seed: int = 0
    vocab_size: int = 768  # BPE merges before special and added tokens
    max_number: int = 255  # whole numbers 10..max_number are single tokens

    def __post_init__(self):
        if self.size not in SIZES:
            raise ValueError(f"unknown tiny model size {self.size!r}; use one of {', '.join(SIZES)}")
        if self.image_size % IMAGE_GRID:
            raise ValueError(
                f"image_size must be a multiple of {IMAGE_GRID} (patch 14 x merge 2), got {self.image_size}"
            )


def chat_template() -> str:
    """The real Qwen2.5-VL chat template, as TRL ships it."""
    from importlib.resources import files

    return (files("trl") / "chat_templates" / "qwen2_5_vl.jinja").read_text()


def mrope_section(head_dim: int) -> list[int]:
    """Qwen2.5-VL splits head_dim / 2 rotary pairs over (time, height, width) as 16:24:24 does for 128."""
    half = head_dim // 2
    t = half // 4
    h = (half - t) // 2
    return [t, h, half - t - h]


def build_tiny(spec: TinySpec = TinySpec()):
    """(model, processor) of a fresh tiny Qwen2.5-VL; weights initialised from ``spec.seed``."""
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
    )
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from grit.models.processor import image_only
    from grit.models.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(spec.vocab_size, spec.max_number, spec.seed)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in tokenizer.all_special_tokens}
    th, tl, heads, kv, tmlp, vh, vd, vheads, vmlp = SIZES[spec.size]
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": th,
            "intermediate_size": tmlp,
            "num_hidden_layers": tl,
            "num_attention_heads": heads,
            "num_key_value_heads": kv,
            "max_position_embeddings": 4096,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1e6,
                "mrope_section": mrope_section(th // heads),
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": vd,
            "hidden_size": vh,
            "intermediate_size": vmlp,
            "num_heads": vheads,
            "out_hidden_size": th,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [vd - 1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(spec.seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    never = [i for t, i in ids.items() if t not in ("<|im_end|>", "<|endoftext|>")]
    model.generation_config = GenerationConfig(
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        bos_token_id=ids["<|endoftext|>"],
        suppress_tokens=never,  # a weak model must never sample image placeholders or other markup tokens
    )
    image_processor = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=spec.image_size**2)
    processor = image_only(Qwen2_5_VLProcessor)(image_processor, tokenizer, chat_template=chat_template())
    return model, processor


TINY_BUILDER = "grit model tiny"  # grit_model.json's ``built_by`` in a folder this module wrote


def _built_by(folder: Path) -> str | None:
    """``built_by`` of the folder's ``grit_model.json`` (None when there is none or it cannot be read)."""
    try:
        info = json.loads((folder / "grit_model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    built_by = info.get("built_by") if isinstance(info, dict) else None
    return str(built_by) if built_by else None


def save_tiny(out: str | Path, spec: TinySpec = TinySpec(), overwrite: bool = False) -> Path:
    """Build and save the tiny model; refuses a non-empty folder unless ``overwrite``, and with it any folder but
    an earlier ``grit model tiny`` output (a trained or downloaded model's weights would be lost). Its model files
    are replaced; nothing else in the folder is deleted."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file, not a folder; choose a folder for the model (--out)")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} is not empty; pass --overwrite or choose another --out")
        built_by = _built_by(out)
        if built_by != TINY_BUILDER:
            held = f"a model built by {built_by}" if built_by else "files without grit model tiny's grit_model.json"
            raise FileExistsError(
                f"{out} holds {held}; --overwrite only replaces a model `grit model tiny` wrote, so that no trained "
                "or downloaded weights are lost: choose another --out or move that folder away"
            )
    model, processor = build_tiny(spec)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    index = out / "model.safetensors.index.json"
    if (out / "model.safetensors").exists() and index.exists():  # an earlier sharded model's, whose shards
        index.unlink()  # save_pretrained has just removed: left, it would describe weights that are gone
    processor.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    info = {
        "built_by": TINY_BUILDER,
        "family": get_family("qwen2_5_vl").name,
        "parameters": n_params,
        **asdict(spec),
    }
    (out / "grit_model.json").write_text(json.dumps(info, indent=2) + "\n")
    return out
