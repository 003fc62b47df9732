"""Checkpoints of ``grit pretrain``: ``OUT/checkpoint-last`` holds the model and processor (safetensors, loadable
as any model folder) and ``trainer_state.pt`` beside them (stage, step, history, optimizer, dense heads, both
RNGs), so a resumed run ends with the weights of an uninterrupted one. A save writes a new folder, then replaces
the last one; nothing else is ever deleted."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import torch

LAST = "checkpoint-last"
STATE_FILE = "trainer_state.pt"


def has_checkpoint(path: Path) -> bool:
    return (path / "config.json").exists() and (path / STATE_FILE).exists()


def save_checkpoint(
    out: Path, policy, state: dict[str, Any], optimizer: torch.optim.Optimizer, heads: torch.nn.Module, rng
) -> Path:
    """Write ``out/checkpoint-last``; returns its path."""
    tmp = out / f"{LAST}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)  # our own half-written checkpoint from an interrupted save
    policy.model.save_pretrained(tmp)
    policy.processor.save_pretrained(tmp)
    torch.save(
        {
            "state": state,
            "optimizer": optimizer.state_dict(),
            "heads": heads.state_dict(),
            "rng": rng.getstate(),
            "torch_rng": torch.get_rng_state(),
        },
        tmp / STATE_FILE,
    )
    final = out / LAST
    if final.exists():
        shutil.rmtree(final)  # the previous checkpoint of this run, replaced by the newer one
    tmp.rename(final)
    return final


def restore_checkpoint(path: Path, heads: torch.nn.Module, rng: random.Random) -> tuple[dict[str, Any], dict]:
    """Load the heads and both RNGs from a checkpoint (the model is loaded from the same folder by the caller);
    returns (trainer state, optimizer state dict)."""
    saved = torch.load(path / STATE_FILE, weights_only=False)
    heads.load_state_dict(saved["heads"])
    rng.setstate(saved["rng"])
    torch.set_rng_state(saved["torch_rng"])
    return saved["state"], saved["optimizer"]
