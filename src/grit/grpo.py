"""``grit train``: GRPO-GR on TRL's ``GRPOTrainer``. Reads top to bottom: config -> data -> model -> rewards ->
trainer -> train -> save -> report.

The config is :class:`GritTrainArguments` (ours) plus TRL's ``GRPOConfig``, from a YAML recipe with command-line
overrides (``grit train --config recipes/x.yaml --learning_rate 1e-5``). Every field is checked before a model
loads. grit adds no training loop of its own: it passes GRIT's rewards, a chain-diagnostics metric, a zero-advantage
alarm and a rollout viewer to TRL.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from grit.boxes import WHOLE_IMAGE_THRESHOLD
from grit.data.selection import MIXES
from grit.prompts import PROMPT_KINDS
from grit.rewards import PRESETS, REWARDS

logger = logging.getLogger(__name__)


@dataclass
class GritTrainArguments:
    model: str = field(default="", metadata={"help": "local model folder (the policy to train)"})
    train_data: list[str] = field(default_factory=list, metadata={"help": "GRIT_data-layout JSONL files"})
    images: list[str] = field(
        default_factory=list,
        metadata={"help": "image folders: none (each file's folder), one for all files, or one per file"},
    )
    grit20: bool = field(default=True, metadata={"help": "train on GRIT-20 chosen from train_data (else on all)"})
    grit20_seed: int = 0
    grit20_mix: str = field(
        default="paper",
        metadata={
            "help": "paper (10 counting + 10 spatial) or families (20 spread over the data's question families)"
        },
    )
    prompt: str = field(default="grounded", metadata={"help": "prompt kind: " + ", ".join(PROMPT_KINDS)})
    reward_preset: str = field(default="grit", metadata={"help": "grit, paper or reference"})
    extra_rewards: list[str] = field(default_factory=list, metadata={"help": "rewards added by name, e.g. grounding"})
    reward_weight_overrides: list[str] = field(default_factory=list, metadata={"help": "name=weight, e.g. count=0.5"})
    judge: str = field(default="rules", metadata={"help": "rules or openai (then judge_base_url, judge_model)"})
    judge_base_url: str | None = None
    judge_model: str | None = None
    judge_cache: str | None = None
    whole_image_threshold: float = field(
        default=WHOLE_IMAGE_THRESHOLD,
        metadata={"help": "a box covering this share of the image counts as whole-image"},
    )
    dtype: str | None = field(default=None, metadata={"help": "float32, bfloat16, float16 or auto"})
    max_pixels: int | None = field(default=None, metadata={"help": "processor max_pixels (Qwen2/2.5-VL resize)"})
    min_pixels: int | None = field(default=None, metadata={"help": "processor min_pixels (Qwen2/2.5-VL resize)"})
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    viewer_every: int = field(default=25, metadata={"help": "write a rollout page every N steps (0: never)"})
    viewer_prompts: int = 4
    zero_std_alert: float = 0.9
    zero_std_patience: int = 20
    overwrite: bool = field(default=False, metadata={"help": "write into a non-empty output_dir"})
    resume: bool = field(default=False, metadata={"help": "continue from the last checkpoint in output_dir"})


class TrainConfigError(ValueError):
    pass


def known_fields() -> set[str]:
    from trl import GRPOConfig

    return {f.name for f in fields(GritTrainArguments)} | {f.name for f in fields(GRPOConfig)}


def check_recipe_keys(config: dict[str, Any], path: str) -> None:
    unknown = sorted(set(config) - known_fields() - {"env"})
    if unknown:
        raise TrainConfigError(
            f"{path}: unknown field(s) {', '.join(unknown)}. Fix the spelling; fields are grit's "
            "(grit/train.py GritTrainArguments) and TRL's GRPOConfig."
        )


def load_recipe(path: str | Path | None, overrides: list[str] = ()):
    """(GritTrainArguments, GRPOConfig) from a YAML recipe plus ``--field value`` overrides, TRL-style."""
    import yaml
    from trl import GRPOConfig, TrlParser

    argv, named = list(overrides), {a[2:].split("=")[0] for a in overrides if a.startswith("--")}
    if path is not None:
        config = yaml.safe_load(Path(path).read_text()) or {}
        check_recipe_keys(config, str(path))
        argv, named = ["--config", str(path), *argv], named | set(config)
    if not named & {"activation_checkpointing", "gradient_checkpointing"}:
        # TRL's default (on) under transformers' new name: the old one warns (FutureWarning) whenever it is set,
        # and TRL sets it by default.
        argv += ["--activation_checkpointing", "true"]
    try:
        return TrlParser((GritTrainArguments, GRPOConfig)).parse_args_and_config(argv)
    except SystemExit as e:  # argparse already printed what was wrong
        raise TrainConfigError(
            "bad training arguments (see above); any recipe field can be given as --field value"
        ) from e


def weight_overrides(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise TrainConfigError(f"reward_weight_overrides: {item!r} is not name=weight (e.g. count=0.5)")
    return out


def validate(args: GritTrainArguments, grpo) -> None:
    """Every check that needs no model, so a bad field fails in a second, naming the field and the fix."""
    problems = []
    if not args.model:
        problems.append("model: give a local model folder (grit model tiny --out DIR makes one)")
    elif not (Path(args.model) / "config.json").exists():
        problems.append(f"model: {args.model} has no config.json; pass a saved model folder")
    if not args.train_data:
        problems.append("train_data: give one or more JSONL files")
    problems += [f"train_data: {p} does not exist" for p in args.train_data if not Path(p).is_file()]
    if args.prompt not in PROMPT_KINDS:
        problems.append(f"prompt: {args.prompt!r} is not one of {', '.join(PROMPT_KINDS)}")
    if args.grit20_mix not in MIXES:
        problems.append(f"grit20_mix: {args.grit20_mix!r} is not one of {', '.join(MIXES)}")
    if args.reward_preset not in PRESETS:
        problems.append(f"reward_preset: {args.reward_preset!r} is not one of {', '.join(PRESETS)}")
    problems += [
        f"extra_rewards: unknown reward {r!r} (known: {', '.join(REWARDS)})"
        for r in args.extra_rewards
        if r not in REWARDS
    ]
    if len(args.images) not in (0, 1, len(args.train_data)):
        problems.append(f"images: give no folder, one, or one per train_data file ({len(args.train_data)})")
    if args.judge not in ("rules", "openai"):
        problems.append(f"judge: {args.judge!r} is not rules or openai")
    if grpo.per_device_train_batch_size * grpo.gradient_accumulation_steps % grpo.num_generations:
        problems.append(
            "per_device_train_batch_size x gradient_accumulation_steps must be a multiple of num_generations"
        )
    out = Path(grpo.output_dir)
    if out.exists() and any(out.iterdir()) and not (args.overwrite or args.resume):
        problems.append(
            f"output_dir: {out} is not empty; pass --resume to continue it, --overwrite to write into it, "
            "or choose another output_dir (grit never deletes it)"
        )
    if args.resume and not any(out.glob("checkpoint-*")):
        problems.append(f"resume: {out} has no checkpoint-* folder to resume from")
    try:
        weight_overrides(args.reward_weight_overrides)
    except TrainConfigError as e:
        problems.append(str(e))
    if problems:
        raise TrainConfigError("bad training config:\n  " + "\n  ".join(problems))


def set_resize(policy, min_pixels: int | None, max_pixels: int | None) -> None:
    """Set a Qwen-VL processor's resize bounds, and the frame its boxes are read in, together."""
    from grit.models.loading import frame_of

    size = dict(policy.processor.image_processor.size)
    size.update({k: v for k, v in (("shortest_edge", min_pixels), ("longest_edge", max_pixels)) if v})
    policy.processor.image_processor.size = size
    policy.frame = frame_of(policy.processor, policy.family)


def build_trainer(args: GritTrainArguments, grpo, extra_callbacks: tuple = (), progress=None):
    """Data, model, rewards and callbacks, assembled into a ``GRPOTrainer`` (nothing is trained here). The console
    gets one progress bar (in ``progress``, a :class:`grit.progress.Stage`, when given); every log goes to
    ``OUT/log.jsonl``."""
    from trl import GRPOTrainer

    from grit.callbacks import ChainDiagnostics, RolloutViewer, ZeroStdAlarm, console_callbacks
    from grit.data import load_samples
    from grit.data.selection import select_grit20
    from grit.data.trl import to_trl_dataset
    from grit.models.loading import LoraSpec, load_policy
    from grit.rewards import RewardSettings, build_rewards

    roots = (
        args.images * len(args.train_data) if len(args.images) == 1 else args.images or [None] * len(args.train_data)
    )
    samples = [s for path, root in zip(args.train_data, roots) for s in load_samples(path, root)]
    if args.grit20:
        samples = select_grit20(samples, seed=args.grit20_seed, mix=args.grit20_mix)
    policy = load_policy(args.model, dtype=args.dtype)
    if args.max_pixels or args.min_pixels:
        set_resize(policy, args.min_pixels, args.max_pixels)
    dataset = to_trl_dataset(samples, policy.family.name, args.prompt)
    judge = None
    if args.judge == "openai":
        from grit.judge import OpenAIJudge

        judge = OpenAIJudge(base_url=args.judge_base_url, model=args.judge_model, cache_path=args.judge_cache)
    settings = RewardSettings(
        frame=policy.frame,
        judge=judge,
        whole_image_threshold=args.whole_image_threshold,
        pad_token_id=policy.tokenizer.pad_token_id,
    )
    funcs, weights = build_rewards(
        args.reward_preset, settings, args.extra_rewards, weight_overrides(args.reward_weight_overrides)
    )
    funcs.append(ChainDiagnostics(policy.frame, args.whole_image_threshold))
    weights.append(0.0)  # a metric, not a reward
    grpo.reward_weights = weights
    viewer = (
        RolloutViewer(
            {s.id: s for s in samples}, policy.frame, grpo.num_generations, args.viewer_every, args.viewer_prompts
        )
        if args.viewer_every
        else None
    )
    callbacks = [ZeroStdAlarm(args.zero_std_alert, args.zero_std_patience)] + ([viewer] if viewer else [])
    callbacks += list(extra_callbacks)
    peft_config = LoraSpec(args.lora_r, args.lora_alpha).peft_config() if args.lora else None
    trainer = GRPOTrainer(
        model=policy.model,
        args=grpo,
        reward_funcs=funcs,
        train_dataset=dataset,
        processing_class=policy.processor,
        callbacks=callbacks,
        peft_config=peft_config,
    )
    console_callbacks(trainer, progress)
    for callback in callbacks:  # callbacks that read the completions TRL keeps get the trainer
        if hasattr(callback, "trainer") and callback.trainer is None:
            callback.trainer = trainer
    return trainer, policy, samples


def train(args: GritTrainArguments, grpo, extra_callbacks: tuple = (), progress=None) -> dict[str, Any]:
    """Validate, build, train, save the model (safetensors), the config, metrics.json (with the run's provenance),
    trainer_state.json and plots."""
    from grit.provenance import provenance

    validate(args, grpo)
    trainer, policy, samples = build_trainer(args, grpo, extra_callbacks, progress)
    out = Path(grpo.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "grit_train_config.json").write_text(
        json.dumps({"grit": asdict(args), "grpo": grpo.to_dict()}, indent=2, default=str) + "\n"
    )
    with warnings.catch_warnings():
        # TRL 1.16 reads model.is_gradient_checkpointing, deprecated by transformers 5.23, at every generation step:
        # a FutureWarning per step that no setting of ours can avoid, and nothing the user can act on.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        trainer.train(resume_from_checkpoint=True if args.resume else None)
    if trainer.is_world_process_zero():
        trainer.state.save_to_json(str(out / "trainer_state.json"))
    model_dir = out / "model"
    if args.lora:  # a plain model folder that load_policy and transformers load without PEFT
        trainer.model.merge_and_unload().save_pretrained(model_dir)
    else:
        trainer.save_model(str(model_dir))
    policy.processor.save_pretrained(model_dir)
    history = trainer.state.log_history
    (out / "metrics.json").write_text(
        json.dumps(
            {
                "log_history": history,
                "train_samples": [s.id for s in samples],
                "global_step": trainer.state.global_step,
                "provenance": provenance(grpo.seed),
            },
            indent=2,
        )
        + "\n"
    )
    from grit.report import plot_history

    plot_history(history, out / "plots")
    return {"global_step": trainer.state.global_step, "model": str(model_dir), "history": history}
