"""What ``grit train --resume`` needs of the last checkpoint transformers would resume from, and why one cannot be
resumed: a file missing (the run stopped while saving it), or damaged."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

# What holds a checkpoint's weights: transformers' files, PEFT's adapters (also one folder per named adapter),
# DeepSpeed's and FSDP's shard folders.
CHECKPOINT_WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "adapter_model.safetensors",
    "adapter_model.bin",
    "*/adapter_model.safetensors",
    "*/adapter_model.bin",
    "global_step*",
    "pytorch_model_fsdp*",
)
CHECKPOINT_RE = re.compile(r"checkpoint-\d+")  # the folders transformers resumes from


def checkpoint_problems(last: Path) -> list[str]:
    """Why the last checkpoint cannot be resumed: a file it needs is missing (the run stopped while saving it), or
    a weights file is not one (damaged)."""
    missing = [] if (last / "trainer_state.json").is_file() else ["trainer_state.json"]
    missing += [] if any(any(last.glob(g)) for g in CHECKPOINT_WEIGHTS) else ["model.safetensors"]
    sharded = any(any(last.glob(g)) for g in ("global_step*", "pytorch_model_fsdp*", "optimizer_*"))
    states = [] if sharded else ["optimizer.pt", "scheduler.pt"]  # DeepSpeed and FSDP keep theirs in shard folders
    missing += [name for name in states if not (last / name).is_file()]  # else it resumes with fresh ones, silently
    missing += [] if any(last.glob("rng_state*.pth")) else ["rng_state.pth"]
    if missing:
        return [
            f"resume: {last} is incomplete (no {', '.join(missing)}): the run stopped while saving it, or saved "
            "only the model (save_only_model); move it away to resume from the checkpoint before, or start again "
            "with --overwrite"
        ]
    from safetensors import SafetensorError, safe_open

    for state in [last / name for name in states]:  # torch saves a zip: one cut short has no central directory
        if not zipfile.is_zipfile(state):
            return [
                f"resume: {state} is damaged (not the archive torch saves); move {last.name} away to resume from the "
                "checkpoint before, or start again with --overwrite"
            ]
    for weights in sorted(last.glob("*.safetensors")):
        try:
            with safe_open(str(weights), "pt"):
                pass
        except (SafetensorError, OSError) as e:
            return [
                f"resume: {weights} cannot be read ({e}): it is damaged; move {last.name} away to resume from the "
                "checkpoint before, or start again with --overwrite"
            ]
    return []
