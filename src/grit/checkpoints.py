"""What ``grit train --resume`` needs of the last checkpoint transformers would resume from, and why one cannot be
resumed: a file missing (the run stopped while saving it), or damaged; and why resuming would not continue the same
run (:func:`resume_problems`)."""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grit.train_config import GritTrainArguments

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


def _trainer_state_problem(path: Path) -> str | None:
    """What is wrong with a checkpoint's ``trainer_state.json`` (transformers reads it on resuming), or None."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        return f"cannot be read ({e})"
    except ValueError as e:
        return f"is not JSON ({e})"
    if not isinstance(state, dict):
        return f"holds a {type(state).__name__}, not the trainer's state"
    step = state.get("global_step")
    if type(step) is not int or step < 0:
        return f"has no step count (global_step: {step!r})"
    return None


def checkpoint_problems(last: Path) -> list[str]:
    """Why the last checkpoint cannot be resumed: a file it needs is missing (the run stopped while saving it), or
    its trainer state or a weights file is not one (damaged)."""
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
    if state_problem := _trainer_state_problem(last / "trainer_state.json"):
        return [
            f"resume: {last / 'trainer_state.json'} {state_problem}: it is damaged; move {last.name} away to resume "
            "from the checkpoint before, or start again with --overwrite"
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


# What makes a run the run it is: resuming with another value of one of these would train a mixture of two runs.
# Others (max_steps, logging, saving, threads, the viewer) may change on resuming.
RUN_FIELDS = (
    "model train_data images grit20 grit20_seed grit20_mix prompt reward_preset extra_rewards reward_weight_overrides "
    "judge judge_model whole_image_threshold max_pixels min_pixels lora lora_r lora_alpha"
).split()
RUN_GRPO_FIELDS = (
    "learning_rate lr_scheduler_type warmup_steps warmup_ratio weight_decay num_generations "
    "per_device_train_batch_size gradient_accumulation_steps beta epsilon epsilon_high loss_type scale_rewards "
    "num_iterations temperature top_p top_k max_completion_length seed"
).split()


def _same_paths(name: str, value):
    """``value`` with the paths of a path field written one way (``./runs/m/`` and ``runs/m`` are one folder)."""
    if name not in ("model", "train_data", "images") or value is None:
        return value
    one = lambda p: str(Path(p).expanduser().resolve()) if isinstance(p, str) else p  # noqa: E731
    return [one(p) for p in value] if isinstance(value, list) else one(value)


def resume_problems(out: Path, last: Path, args: GritTrainArguments, grpo) -> list[str]:
    """Why resuming ``out`` from its checkpoint ``last`` would not continue the same run: a setting that made the run
    changed (``grit_train_config.json`` holds the run's), or the run already reached ``max_steps``."""
    problems = []
    try:
        step = json.loads((last / "trainer_state.json").read_text())["global_step"]
    except (OSError, ValueError, KeyError, TypeError):
        step = None  # checkpoint_problems names an unreadable state
    if type(step) is int and 0 < grpo.max_steps <= step:  # TRL would take a step past max_steps
        unsaved = (
            ""
            if (out / "model" / "config.json").is_file()
            else f" (its model/ was not written: {last} holds the trained weights, which grit eval and grit infer "
            "load as --model)"
        )
        problems.append(
            f"resume: {last.name} is at step {step}, and max_steps is {grpo.max_steps}: nothing is left to train"
            f"{unsaved}; raise max_steps to train on"
        )
    try:
        before = json.loads((out / "grit_train_config.json").read_text())
    except (OSError, ValueError):
        return problems  # a run from before grit kept its config: nothing to compare
    now = json.loads(json.dumps({"grit": asdict(args), "grpo": grpo.to_dict()}, default=str))  # as train() wrote it
    changed = [
        f"{name}: {before[group].get(name)!r} -> {now[group].get(name)!r}"
        for group, names in (("grit", RUN_FIELDS), ("grpo", RUN_GRPO_FIELDS))
        for name in names
        if isinstance(before.get(group), dict)
        and name in before[group]
        and _same_paths(name, before[group][name]) != _same_paths(name, now[group].get(name))
    ]
    if changed:
        problems.append(
            f"resume: {out} was trained with other settings ({'; '.join(changed)}); resume with the run's own "
            "settings (only max_steps and logging may change), or start a new output_dir"
        )
    return problems
