"""``grit train``: GRPO-GR on TRL's ``GRPOTrainer``. Reads top to bottom: config -> data -> model -> rewards ->
trainer -> train -> save -> report.

The config is :class:`grit.train_config.GritTrainArguments` (ours) plus TRL's ``GRPOConfig``, from a YAML recipe with
command-line overrides (``grit train --config recipes/x.yaml --learning_rate 1e-5``); every field is checked there
before a model loads. grit adds no training loop of its own: it passes GRIT's rewards, a chain-diagnostics metric, a
zero-advantage alarm and a rollout viewer to TRL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from grit.outputs import TRAIN_OUTPUTS, check_clearable, clear_outputs
from grit.train_config import GritTrainArguments, TrainConfigError, validate, weight_overrides

logger = logging.getLogger(__name__)


def set_resize(policy, min_pixels: int | None, max_pixels: int | None) -> None:
    """Set a Qwen-VL processor's resize bounds, and the frame its boxes are read in, together."""
    from grit.models.loading import frame_of

    size = dict(policy.processor.image_processor.size)
    size.update({k: v for k, v in (("shortest_edge", min_pixels), ("longest_edge", max_pixels)) if v})
    low, high = size.get("shortest_edge"), size.get("longest_edge")
    if low and high and low > high:  # one flag against the processor's own other bound: no image size fits both
        given = "max_pixels" if max_pixels else "min_pixels"
        raise TrainConfigError(
            f"{given} {max_pixels or min_pixels}: the processor's pixel bounds would be {low} to {high}, and no image "
            f"fits; give min_pixels <= max_pixels (the model's own are {policy.processor.image_processor.size})"
        )
    policy.processor.image_processor.size = size
    policy.frame = frame_of(policy.processor, policy.family)


def distinct_ids(samples: list, files: int) -> list:
    """``samples`` of ``files`` data files, each id its own: a line's number, the id where a file gives none, becomes
    ``stem:line`` when there are several files; ids a file gives must differ across files (TrainConfigError)."""
    if files > 1:
        samples = [
            replace(s, id=f"{Path(s.source.rpartition(':')[0]).stem}:{s.id}") if s.source.endswith(f":{s.id}") else s
            for s in samples
        ]
    first: dict[str, str] = {}
    for s in samples:  # one file's ids are checked as it loads; across files they must differ too
        if first.setdefault(s.id, s.source) != s.source:
            raise TrainConfigError(
                f"train_data: id {s.id!r} is on {first[s.id]} and {s.source}; rewards, logs and rollout pages tell "
                "samples apart by id, so give each its own"
            )
    return samples


def build_trainer(args: GritTrainArguments, grpo, extra_callbacks: tuple = (), progress=None):
    """Data, model, rewards and callbacks, assembled into a ``GRPOTrainer`` (nothing is trained here). The console
    gets one progress bar (in ``progress``, a :class:`grit.progress.Stage`, when given); every log goes to
    ``OUT/log.jsonl``."""
    from grit.callbacks import ChainDiagnostics, RolloutViewer, ZeroStdAlarm, console_callbacks
    from grit.data import load_samples
    from grit.data.selection import select_grit20
    from grit.data.trl import to_trl_dataset
    from grit.models.loading import LoraSpec, load_policy
    from grit.models.unpadded import unpadded_trainer
    from grit.rewards import RewardSettings, build_rewards
    from grit.threads import AUTO as AUTO_THREADS
    from grit.threads import AdaptThreads

    roots = (
        args.images * len(args.train_data) if len(args.images) == 1 else args.images or [None] * len(args.train_data)
    )
    samples = [s for path, root in zip(args.train_data, roots) for s in load_samples(path, root)]
    samples = distinct_ids(samples, len(args.train_data))
    if args.grit20:
        try:
            samples = select_grit20(samples, seed=args.grit20_seed, mix=args.grit20_mix)
        except ValueError as e:
            raise TrainConfigError(f"grit20: {e}; give more train_data, or --grit20 false to train on all") from e
    check_enough_prompts(len(samples), grpo)
    policy = load_policy(args.model, dtype=args.dtype)
    if args.max_pixels or args.min_pixels:
        set_resize(policy, args.min_pixels, args.max_pixels)
    check_prompt_lengths(policy, samples, args.prompt, grpo.max_completion_length)
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
    if not any(weights):  # every advantage would be 0: GRPO-GR would run and learn nothing, silently
        raise TrainConfigError(
            f"every reward weight is 0 ({args.reward_preset} preset with reward_weight_overrides "
            f"{' '.join(args.reward_weight_overrides) or 'none'}): nothing would be learned; give at least one reward "
            "a weight above 0"
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
    callbacks += [AdaptThreads()] if args.threads == AUTO_THREADS else []
    callbacks += list(extra_callbacks)
    peft_config = LoraSpec(args.lora_r, args.lora_alpha).peft_config() if args.lora else None
    trainer = unpadded_trainer(args.logprob_chunks)(
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


def check_enough_prompts(n_samples: int, grpo) -> None:
    """Refuse training data that cannot fill one generation batch: TRL would then train 0 steps and save the model
    unchanged, as if it had trained."""
    steps = grpo.steps_per_generation or grpo.gradient_accumulation_steps
    batch = grpo.generation_batch_size or grpo.per_device_train_batch_size * grpo.world_size * steps
    prompts = batch // grpo.num_generations
    if n_samples < prompts:
        raise TrainConfigError(
            f"train_data: {n_samples} samples to train on, but one step asks {prompts} distinct prompts ({batch} "
            f"completions, num_generations {grpo.num_generations}), so no step could be taken; give more data, or "
            "lower per_device_train_batch_size or gradient_accumulation_steps"
        )


def check_prompt_lengths(policy, samples: list, prompt: str, max_completion_length: int) -> None:
    """Refuse questions that hold one of the model's control tokens, and those whose prompt leaves no room for
    ``max_completion_length`` in the model's context: past it a model writes noise, and GRPO-GR would learn from its
    rewards."""
    from grit.models.generation import control_token_problem, overlong, overlong_problem

    if problem := control_token_problem(policy, samples)[1]:
        raise TrainConfigError(problem)
    limit, long = overlong(policy, samples, prompt, max_completion_length)
    if long:
        problem = overlong_problem(long, limit, "max_completion_length", max_completion_length)
        raise TrainConfigError(f"{problem}; shorten the question or lower max_completion_length")


@contextlib.contextmanager
def trl_deprecations_hidden():
    """TRL 1.16 reads ``model.is_gradient_checkpointing``, deprecated by transformers 5.23, at every generation
    step: a FutureWarning per step that no setting of ours can avoid and nothing the user can act on. Hidden while
    the trainer runs."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        yield


def train(args: GritTrainArguments, grpo, extra_callbacks: tuple = (), progress=None) -> dict[str, Any]:
    """Validate, build, train, save the model (safetensors), the config, metrics.json (with the run's provenance),
    trainer_state.json and plots."""
    from grit.provenance import provenance
    from grit.threads import set_threads

    validate(args, grpo)
    set_threads(args.threads)
    trainer, policy, samples = build_trainer(args, grpo, extra_callbacks, progress)
    out = Path(grpo.output_dir)
    # Under accelerate every process runs this; the first writes the run's files (save_model is collective and
    # writes on the first only), and the others wait for it where they would read what it writes.
    main = trainer.is_world_process_zero()
    if args.overwrite and not main:  # each process refuses a folder the first would refuse, rather than wait on it
        check_clearable(out, TRAIN_OUTPUTS, "output_dir")
    if main:
        if args.overwrite:  # start clean: an old checkpoint must not be resumed or mixed with this run's
            removed = clear_outputs(out, TRAIN_OUTPUTS, "output_dir")
            if removed:
                logger.warning("--overwrite: removed the earlier run's %s from %s", ", ".join(removed), out)
        out.mkdir(parents=True, exist_ok=True)
        if getattr(grpo, "log_completions", False):  # TRL made it as the trainer was built, before the clearing
            (out / "completions").mkdir(exist_ok=True)
        (out / "grit_train_config.json").write_text(
            json.dumps({"grit": asdict(args), "grpo": grpo.to_dict()}, indent=2, default=str) + "\n"
        )
    trainer.accelerator.wait_for_everyone()  # no process resumes from a checkpoint the first is clearing
    with trl_deprecations_hidden():
        trainer.train(resume_from_checkpoint=True if args.resume else None)
    if main:
        trainer.state.save_to_json(str(out / "trainer_state.json"))
    model_dir = out / "model"
    if args.lora:  # a plain model folder that load_policy and transformers load without PEFT
        merged = trainer.model.merge_and_unload()
        if main:
            merged.save_pretrained(model_dir)
    else:
        trainer.save_model(str(model_dir))
    history = trainer.state.log_history
    result = {"global_step": trainer.state.global_step, "model": str(model_dir), "history": history, "main": main}
    if not main:
        trainer.accelerator.wait_for_everyone()  # the first process's files are complete when the others return
        return result
    policy.processor.save_pretrained(model_dir)
    funcs = getattr(trainer, "reward_funcs", ())  # a GRPOTrainer's; a plain Trainer has none
    judges = {id(f.judge): f.judge for f in funcs if getattr(f, "judge", None) is not None}
    notes = [note for judge in judges.values() if (note := judge.failure_note())]
    for note in notes:  # each failed answer was left out of its completion's reward, not scored 0: say how many
        logger.warning("%s; those answers were left out of the rewards, not scored 0", note)
    (out / "metrics.json").write_text(
        json.dumps(
            {
                "log_history": history,
                "train_samples": [s.id for s in samples],
                "global_step": trainer.state.global_step,
                "provenance": provenance(grpo.seed),
                **({"judge_failures": notes} if notes else {}),
            },
            indent=2,
        )
        + "\n"
    )
    from grit.report import plot_history

    plot_history(history, out / "plots")
    trainer.accelerator.wait_for_everyone()
    return result
