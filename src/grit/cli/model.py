"""``grit model tiny``: build the tiny Qwen2.5-VL with a locally trained tokenizer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from grit.cli.common import UsageError, check_writable, dispatch, parse, quiet_transformers
from grit.models.tiny import SIZES

HELP = "build models: tiny"


@dataclass
class TinyConfig:
    """``grit model tiny --out DIR``: a tiny Qwen2.5-VL (class of Qwen2.5-VL-3B) with a tokenizer trained here."""

    out: str = field(metadata={"help": "model folder to write"})
    size: str = field(
        default="tiny", metadata={"help": "micro ~0.2 M, tiny ~1 M, small ~3.5 M parameters", "choices": tuple(SIZES)}
    )
    image_size: int = field(
        default=112,
        metadata={"help": "images are resized to at most this square's area (a multiple of 28)", "min": 28},
    )
    seed: int = field(default=0, metadata={"help": "seed of the weights"})
    overwrite: bool = field(default=False, metadata={"help": "write into a non-empty --out"})


def tiny(argv: list[str]) -> int:
    (cfg,) = parse(argv, TinyConfig, prog="grit model tiny", description=TinyConfig.__doc__)
    quiet_transformers()
    from grit.models.tiny import TinySpec, save_tiny

    check_writable(cfg.out)
    try:
        out = save_tiny(cfg.out, TinySpec(cfg.size, cfg.image_size, cfg.seed), overwrite=cfg.overwrite)
    except (ValueError, FileExistsError) as e:
        raise UsageError(str(e)) from e
    info = json.loads((out / "grit_model.json").read_text())
    print(f"wrote {out}: tiny Qwen2.5-VL ({cfg.size}, {info['parameters']:,} parameters, {cfg.image_size} px images)")
    return 0


def main(argv: list[str]) -> int:
    return dispatch(argv, "model", {"tiny": ("build the tiny Qwen2.5-VL with a locally trained tokenizer", tiny)})
