"""TRL and grit training settings that grit would override, ignore, or fail on only after the model loads, found
before any work."""

from __future__ import annotations

import re
from dataclasses import fields
from typing import TYPE_CHECKING

from grit.prompts import CHAIN_PROMPTS

if TYPE_CHECKING:
    from grit.train_config import GritTrainArguments


# TRL's text settings that it reads only once training runs (a wrong one fails after the model loads, and leaves a
# half-written output_dir): the values TRL 1.16 takes, and any more the installed TRL's help lists as supported.
TRL_CHOICES = {
    "loss_type": ("grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo", "luspo", "vespo"),
    "scale_rewards": ("group", "batch", "none"),
    "importance_sampling_level": ("token", "sequence"),
}


def trl_choices(name: str) -> tuple[str, ...]:
    """The values TRL takes for the text setting ``name``: :data:`TRL_CHOICES`, and any more the installed TRL's help
    lists as supported."""
    from trl import GRPOConfig

    help_text = next((f.metadata.get("help", "") for f in fields(GRPOConfig) if f.name == name), "")
    listed = re.search(r"(?:Supported|Possible) values are (.*?)\.(?:\s|$)", help_text)
    quoted = re.findall(r"'([a-z][a-z_]*)'", listed.group(1)) if listed else []
    return TRL_CHOICES[name] + tuple(dict.fromkeys(q for q in quoted if q not in TRL_CHOICES[name]))


def trl_field_problems(args: GritTrainArguments, grpo) -> list[str]:
    """TRL and grit fields that grit would override, ignore or fail on after the model loads."""
    import importlib.util

    from transformers import integrations

    problems = []
    own = [r for r in args.extra_rewards if "." in r]  # a user's reward (a dotted path) may score a direct answer
    if args.prompt not in CHAIN_PROMPTS and not own:  # grit's own rewards all read a chain
        problems.append(
            f"prompt: {args.prompt} asks for no chain, and every reward preset reads the answer between <answer> "
            f"tags, so every completion would earn 0; use one of {', '.join(CHAIN_PROMPTS)}, or give your own "
            "--extra_rewards (a dotted path) that score its answers"
        )
    if grpo.reward_weights is not None:
        problems.append(
            "reward_weights: grit sets TRL's reward_weights from the preset; use --reward_weight_overrides NAME=W "
            "(grit train --help lists the terms)"
        )
    if "torch_dtype" in (grpo.model_init_kwargs or {}) or "dtype" in (grpo.model_init_kwargs or {}):
        problems.append("model_init_kwargs: grit loads the model itself; give its dtype with --dtype")
    defaults = {f.name: f.default for f in fields(args)}
    if not args.lora and (args.lora_r != defaults["lora_r"] or args.lora_alpha != defaults["lora_alpha"]):
        problems.append("lora_r, lora_alpha: they set LoRA's adapters, which are off; add --lora true")
    if args.lora_alpha <= 0:
        problems.append(
            f"lora_alpha: {args.lora_alpha} would scale the adapters by {args.lora_alpha}/r; give 1 or more"
        )
    if args.min_pixels and args.max_pixels and args.min_pixels > args.max_pixels:
        problems.append(
            f"min_pixels {args.min_pixels} is above max_pixels {args.max_pixels}; give min_pixels <= max_pixels"
        )
    if str(getattr(grpo.eval_strategy, "value", grpo.eval_strategy)) != "no":
        problems.append(
            "eval_strategy: grit train evaluates no held-out set while training; leave it at no and run grit eval "
            "on the saved model (or a checkpoint)"
        )
    for name in TRL_CHOICES:
        value, taken = getattr(grpo, name, None), trl_choices(name)
        if value is not None and value not in taken:
            problems.append(f"{name}: {value!r} is not one of {', '.join(taken)}")
    if grpo.resume_from_checkpoint is not None:  # TRL's Trainer reads it only when train() is given it
        problems.append(
            "resume_from_checkpoint: grit train does not read it; pass --resume true to continue the run in "
            "output_dir from its last checkpoint"
        )
    reports = [grpo.report_to] if isinstance(grpo.report_to, str) else list(grpo.report_to or [])
    known = set(integrations.integration_utils.INTEGRATION_TO_CALLBACK) | {"all", "none"}
    problems += [f"report_to: {r!r} is not one of {', '.join(sorted(known))}" for r in reports if r not in known]
    for backend in [r for r in reports if r in ("tensorboard", "wandb", "mlflow", "comet_ml")]:
        available = getattr(integrations, f"is_{backend}_available", None)  # transformers' own test (tensorboardX too)
        if not (available() if available else importlib.util.find_spec(backend)):
            problems.append(f"report_to: {backend} is not installed; pip install {backend}, or leave it out")
    if grpo.use_vllm and importlib.util.find_spec("vllm") is None:
        problems.append("use_vllm: vllm is not installed; pip install vllm on a GPU machine, or leave it out")
    if grpo.deepspeed and importlib.util.find_spec("deepspeed") is None:
        problems.append("deepspeed: the deepspeed package is not installed; pip install deepspeed, or leave it out")
    if "stop_strings" in (grpo.generation_kwargs or {}):
        problems.append("generation_kwargs: grit stops chains at </answer> itself; leave stop_strings out")
    return problems
