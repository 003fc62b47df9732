"""``grit train``'s options: grit's fields (:class:`GritTrainArguments`) beside TRL's ``GRPOConfig``, read from a
YAML recipe with ``--field value`` overrides, and every check that needs no model, so that a bad field fails in a
second, naming the field and the fix. The trainer they configure is :mod:`grit.grpo`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grit.arguments import ArgumentParser
from grit.boxes import WHOLE_IMAGE_THRESHOLD
from grit.checkpoints import CHECKPOINT_RE, checkpoint_problems, resume_problems
from grit.config import Above, ConfigError, field_problems
from grit.data.schema import relative_hint
from grit.data.selection import MIXES
from grit.judge import JUDGES
from grit.models.loading import ModelLoadError, check_model_folder, dtype_field, looks_like_hub_id
from grit.outputs import OWN_TEXT, TRAIN_OUTPUTS, unknown_entries, unwritable
from grit.prompts import PROMPT_KINDS
from grit.rewards import PRESETS, reward_name_problems, reward_problems, reward_terms
from grit.trl_settings import trl_field_problems


@dataclass
class GritTrainArguments:
    """grit's fields of ``grit train``; every field of TRL's ``GRPOConfig`` is accepted beside them."""

    model: str = field(default="", metadata={"help": "local model folder (the policy to train)"})
    train_data: list[str] = field(default_factory=list, metadata={"help": "GRIT_data-layout JSONL files"})
    images: list[str] = field(
        default_factory=list,
        metadata={"help": "image folders: none (each file's folder), one for all files, or one per file"},
    )
    grit20: bool = field(default=True, metadata={"help": "train on GRIT-20 chosen from train_data (else on all)"})
    grit20_seed: int = field(default=0, metadata={"help": "seed of the GRIT-20 choice"})
    grit20_mix: str = field(
        default="paper",
        metadata={
            "help": "paper (10 counting + 10 spatial), families (20 spread over the data's question families) or "
            "counting_half (10 counting, 10 over the other families)",
            "choices": MIXES,
        },
    )
    prompt: str = field(default="grounded", metadata={"help": "prompt kind", "choices": PROMPT_KINDS})
    reward_preset: str = field(
        default="grit",
        metadata={"help": "grit (hack-resistant), paper or reference (literal)", "choices": tuple(PRESETS)},
    )
    extra_rewards: list[str] = field(
        default_factory=list,
        metadata={"help": "rewards added to the preset: a registry name (e.g. grounding) or a dotted path mypkg.fn"},
    )
    reward_weight_overrides: list[str] = field(default_factory=list, metadata={"help": "name=weight, e.g. count=0.5"})
    judge: str = field(
        default="rules",
        metadata={"help": "answer checking: rules, or openai (then judge_base_url, judge_model)", "choices": JUDGES},
    )
    judge_base_url: str | None = field(
        default=None, metadata={"help": "e.g. http://127.0.0.1:8000/v1 (or GRIT_JUDGE_BASE_URL)"}
    )
    judge_model: str | None = field(default=None, metadata={"help": "judge model name (or GRIT_JUDGE_MODEL)"})
    judge_cache: str | None = field(default=None, metadata={"help": "SQLite file caching judge scores"})
    whole_image_threshold: float = field(
        default=WHOLE_IMAGE_THRESHOLD,
        metadata={"help": "a box covering this share of the image counts as whole-image", "min": 0, "max": 1},
    )
    dtype: str | None = dtype_field()
    threads: int | None = field(
        default=None,
        metadata={
            "help": "torch CPU threads: N, or 0 for the cores the machine has free (checked again every 10 steps); "
            "default: torch's, one per core",
            "min": 0,
        },
    )
    max_pixels: int | None = field(
        default=None, metadata={"help": "processor max_pixels (Qwen2/2.5-VL resize)", "min": 1}
    )
    min_pixels: int | None = field(
        default=None, metadata={"help": "processor min_pixels (Qwen2/2.5-VL resize)", "min": 1}
    )
    lora: bool = field(default=False, metadata={"help": "train LoRA adapters (merged into the saved model)"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank", "min": 1})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale alpha / r)"})
    logprob_chunks: int = field(
        default=1,
        metadata={
            "help": "score a step's completions (policy and reference log-probs) in N length-sorted groups, each "
            "without the others' padding: same values, fewer tokens (1: TRL's one padded batch)",
            "min": 1,
        },
    )
    viewer_every: int = field(default=25, metadata={"help": "write a rollout page every N steps (0: never)", "min": 0})
    viewer_prompts: int = field(default=4, metadata={"help": "prompts (groups) shown per rollout page", "min": 1})
    zero_std_alert: float = field(
        default=0.9,
        metadata={
            "help": "warn when this share of groups has zero reward spread (no advantage to learn from)",
            "min": 0,
            "max": 1,
        },
    )
    zero_std_patience: int = field(default=20, metadata={"help": "... for this many logged steps in a row", "min": 1})
    overwrite: bool = field(
        default=False,
        metadata={"help": "start a non-empty output_dir again: remove grit's own outputs there (never other files)"},
    )
    resume: bool = field(default=False, metadata={"help": "continue from the last checkpoint in output_dir"})


# What ``grit train --help`` shows of GRPOConfig (``--help-all``: every field).
MOST_USED_GRPO_FIELDS = (
    "output_dir",
    "learning_rate",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "num_generations",
    "max_completion_length",
    "temperature",
    "beta",
    "loss_type",
    "seed",
    "logging_steps",
    "save_steps",
    "bf16",
    "use_cpu",
    "use_vllm",
    "report_to",
)


# Ranges grit checks of TRL's GRPOConfig fields (its own checks come later, or as deep errors): name -> (min, max).
GRPO_RANGES = {
    "num_generations": (2, None),
    "per_device_train_batch_size": (1, None),
    "gradient_accumulation_steps": (1, None),
    "max_completion_length": (1, None),
    "learning_rate": (0, None),
    "temperature": (Above(0), None),  # sampling at 0 is greedy, which GRPO's groups cannot learn from
    "top_k": (0, None),  # 0: off
    "top_p": (Above(0), 1),
    "seed": (0, 2**32 - 1),  # numpy's seeds
    "beta": (0, None),
    "logging_steps": (0, None),
    "save_steps": (0, None),
    "num_train_epochs": (0, None),
}


class TrainConfigError(ConfigError):
    pass


def train_parser() -> ArgumentParser:
    """The parser of ``grit train``: grit's fields, then TRL's ``GRPOConfig``, from a recipe and flags."""
    from trl import GRPOConfig

    return ArgumentParser(
        [GritTrainArguments, GRPOConfig],
        prog="grit train",
        usage="grit train --config RECIPE [--field value ...]",
        description="GRPO-GR on TRL's GRPOTrainer. A recipe (recipes/*.yaml) sets any field below; --field value "
        "overrides it, e.g. grit train --config recipes/shapes_tiny_cpu.yaml --learning_rate 1e-5",
        epilog="Every field of TRL's GRPOConfig is accepted as --field value or as a recipe key; --help shows "
        "the most used, --help-all all of them.",
        brief={GRPOConfig: MOST_USED_GRPO_FIELDS},
        env=True,
        ranges=GRPO_RANGES,
    )


def _recipe_keys(path: str | Path | None, overrides: Sequence[str]) -> set[str]:
    """The fields a recipe and its overrides set (a bad recipe file is reported by the parser, with its line)."""
    import yaml

    keys = {a[2:].split("=")[0].replace("-", "_") for a in overrides if a.startswith("--")}
    if path is not None and Path(path).is_file():
        try:
            recipe = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (yaml.YAMLError, ValueError):  # not YAML, not UTF-8, a value yaml cannot build: the parser says so
            recipe = None
        keys |= set(recipe) if isinstance(recipe, dict) else set()
    return keys


def load_recipe(path: str | Path | None, overrides: Sequence[str] = ()):
    """(GritTrainArguments, GRPOConfig) from a YAML recipe plus ``--field value`` overrides, TRL-style."""
    import dataclasses

    from grit.pretrain.config import PretrainConfig

    argv = (["--config", str(path)] if path is not None else []) + list(overrides)
    keys, parser = _recipe_keys(path, overrides), train_parser()
    pretrain = keys & {f.name for f in dataclasses.fields(PretrainConfig)} - {f[2:] for f in parser.flags()}
    if path is not None and pretrain:
        raise TrainConfigError(
            f"{path} is a `grit pretrain` recipe (it sets {', '.join(sorted(pretrain)[:3])}, ...): run "
            f"`grit pretrain --config {path}`, or give grit train a GRPO-GR recipe (`grit recipes` lists them)"
        )
    if not keys & {"activation_checkpointing", "gradient_checkpointing"}:
        # TRL's default (on) under transformers' new name: the old one warns (FutureWarning) whenever it is set,
        # and TRL sets it by default.
        argv += ["--activation_checkpointing", "true"]
    try:
        return parser.parse(argv)
    except ConfigError as e:
        if "bf16/gpu" in str(e) and path is None and not any(a.startswith("--bf16") for a in overrides):
            raise TrainConfigError(  # a bare `grit train`: the recipe is what is missing, not a GPU
                "grit train needs a recipe: grit train --config recipes/shapes_tiny_cpu.yaml (grit recipes lists the "
                "shipped ones); without one TRL's defaults are a GPU's, so on a CPU pass --bf16 false --use_cpu true "
                "with --model, --train_data and --output_dir"
            ) from e
        if "bf16/gpu" in str(e):  # transformers' check, which names neither the field nor the way out
            given = "the --bf16 flag" if any(a.startswith("--bf16") for a in overrides) else path or "a default"
            raise TrainConfigError(
                f"bf16: on ({given}), and this machine has no GPU for it; on a CPU pass --bf16 false --use_cpu true "
                "(recipes/shapes_tiny_cpu.yaml is a CPU recipe)"
            ) from e
        uneven = re.search(r"generation_batch_size \((\d+)\) must be divisible by num_generations \((\d+)\)", str(e))
        if uneven:  # TRL's check, which names neither the fields that make the batch nor the values that fit
            total, k = (int(g) for g in uneven.groups())
            fits = ", ".join(str(d) for d in range(2, total + 1) if total % d == 0)
            raise TrainConfigError(
                f"num_generations: {k} chains a prompt do not divide the {total} completions a step generates "
                f"(per_device_train_batch_size x gradient_accumulation_steps x processes); give num_generations "
                f"{fits}, or a per_device_train_batch_size that {k} divides"
            ) from e
        raise TrainConfigError(str(e)) from e


def weight_overrides(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if name.strip() in out:  # the last would win, silently
            raise TrainConfigError(f"reward_weight_overrides: {name.strip()!r} is given twice; give each term once")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise TrainConfigError(f"reward_weight_overrides: {item!r} is not name=weight (e.g. count=0.5)")
        if not math.isfinite(out[name.strip()]):
            raise TrainConfigError(
                f"reward_weight_overrides: {item!r}: the weight is not a finite number (e.g. count=0.5)"
            )
    return out


def validate(args: GritTrainArguments, grpo) -> None:
    """Every check that needs no model, so a bad field fails in a second, naming the field and the fix."""
    problems = []
    if not args.model:
        problems.append("model: give a local model folder (grit model tiny --out DIR makes one)")
    elif not Path(args.model).expanduser().exists():
        problems.append(
            f"model: {args.model} is not a local folder; grit trains offline, so download it first "
            f"(`hf download {args.model} --local-dir DIR`) and pass --model DIR"
            if looks_like_hub_id(args.model)
            else f"model: folder {args.model} does not exist{relative_hint(args.model)}; grit model tiny --out DIR "
            "makes one"
        )
    elif not (Path(args.model).expanduser() / "config.json").exists():
        try:
            check_model_folder(args.model)  # names a run folder's model/, or a file given for a folder
        except ModelLoadError as e:
            problems.append(f"model: {e}")
    if not args.train_data:
        problems.append("train_data: give one or more JSONL files")
    problems += [
        f"train_data: {p} is a folder; give its JSONL files"
        if Path(p).is_dir()
        else f"train_data: {p} does not exist{relative_hint(p)}"
        for p in args.train_data
        if not Path(p).is_file()
    ]
    resolved = [Path(p).resolve() for p in args.train_data]
    problems += [
        f"train_data: {p} is given more than once; its samples would be trained on as often, give it once"
        for p in sorted({p for p, r in zip(args.train_data, resolved) if resolved.count(r) > 1})
    ]
    problems += [
        f"images: {p} is a file; give the folder the data's image paths start in"
        if Path(p).is_file()
        else f"images: folder {p} does not exist{relative_hint(p)}"
        for p in args.images
        if not Path(p).is_dir()
    ]
    problems += field_checks(args, grpo)
    if len(args.images) not in (0, 1, len(args.train_data)):
        problems.append(f"images: give no folder, one, or one per train_data file ({len(args.train_data)})")
    out = Path(grpo.output_dir or "")
    checkpoints = [p for p in out.glob("checkpoint-*") if CHECKPOINT_RE.fullmatch(p.name) and p.is_dir()]
    if not str(grpo.output_dir or "").strip():  # an unset variable in the command line: never the working folder
        problems.append("output_dir is empty; give a folder for the run")
    elif out.exists() and not out.is_dir():
        problems.append(f"output_dir: {out} is a file; choose a folder")
    elif blocked := unwritable(out):
        problems.append(f"output_dir: {out}: {blocked}; choose another output_dir")
    elif out.exists() and any(out.iterdir()) and not (args.overwrite or args.resume):
        if checkpoints:
            how = "pass --resume to continue it, --overwrite to start it again"
        else:  # a run stopped before its first checkpoint: nothing to resume
            how = "it holds no checkpoint to resume from, so pass --overwrite to start it again"
        problems.append(
            f"output_dir: {out} is not empty; {how} (grit removes only its own outputs there), or choose another "
            "output_dir"
        )
    model = Path(args.model) if args.model else None
    if args.overwrite and model and model.exists() and out.is_dir() and model.resolve().is_relative_to(out.resolve()):
        problems.append(
            f"overwrite: --model {model} lies inside output_dir {out}, which --overwrite clears; copy the model "
            "elsewhere first or choose another output_dir"
        )
    if args.overwrite and args.resume:
        problems.append("overwrite, resume: pass one (--resume continues the run, --overwrite starts it again)")
    elif args.overwrite and unknown_entries(out, TRAIN_OUTPUTS):
        names = ", ".join(unknown_entries(out, TRAIN_OUTPUTS)[:10])
        problems.append(
            f"overwrite: {out} holds files grit did not write ({names}); --overwrite only replaces grit's own "
            "outputs, so move those away or choose another output_dir"
        )
    elif args.resume and (theirs := [n for n in unknown_entries(out, TRAIN_OUTPUTS) if n in OWN_TEXT]):
        problems.append(
            f"resume: {out} holds {', '.join(theirs)}, which grit did not write and the resumed run would write over; "
            "move them away first"
        )
    if args.resume and not checkpoints:
        problems.append(f"resume: {out} has no checkpoint-* folder to resume from")
    elif args.resume:  # transformers resumes from the last one: what it needs must be there, and readable
        last = max(checkpoints, key=lambda p: int(p.name.rpartition("-")[2]))
        problems += checkpoint_problems(last) or resume_problems(out, last, args, grpo)
    raise_problems(problems)


def raise_problems(problems: list[str]) -> None:
    """One :class:`TrainConfigError` listing every problem, if there is any."""
    if problems:
        raise TrainConfigError(
            "bad training config" + (f": {problems[0]}" if len(problems) == 1 else ":\n  " + "\n  ".join(problems))
        )


def field_checks(args: GritTrainArguments, grpo) -> list[str]:
    """The problems of the fields' values alone, which need no file (``grit quickstart`` checks them before its
    minutes of work, when the model and data it will train on are not yet written)."""
    problems = field_problems(args)
    ranged = field_problems(grpo, GRPO_RANGES)
    problems += [p for p in ranged if p.split(":")[0] in GRPO_RANGES]
    problems += [f"extra_rewards: {problem}" for problem in reward_problems(args.extra_rewards)]
    problems += [
        f"extra_rewards: {problem}" for problem in reward_name_problems(args.reward_preset, args.extra_rewards)
    ]
    problems += trl_field_problems(args, grpo)
    if grpo.max_steps == 0 or grpo.max_steps < -1:  # TRL would train num_train_epochs instead, silently
        problems.append(f"max_steps: {grpo.max_steps} is not a number of steps; give 1 or more (-1: num_train_epochs)")
    batch = grpo.generation_batch_size or grpo.per_device_train_batch_size * grpo.gradient_accumulation_steps
    if not ranged and batch % grpo.num_generations:  # TRL's rule: each generation batch holds whole groups
        problems.append(
            f"num_generations: {grpo.num_generations} does not divide a generation batch of {batch} completions "
            "(generation_batch_size, or per_device_train_batch_size x processes x steps_per_generation, which is "
            "gradient_accumulation_steps unless given); give a num_generations that divides it"
        )
    from grit.judge import JudgeError, OpenAIJudge, unused_judge_fields

    fields = dict(judge_base_url=args.judge_base_url, judge_model=args.judge_model, judge_cache=args.judge_cache)
    if problem := unused_judge_fields(args.judge, **fields):
        problems.append(problem)
    if args.judge == "openai":  # its endpoint, model and cache are checked now, not after the model loads
        try:
            OpenAIJudge(base_url=args.judge_base_url, model=args.judge_model, cache_path=args.judge_cache)
        except JudgeError as e:
            problems.append(f"judge: {e}")
    try:
        overrides = weight_overrides(args.reward_weight_overrides)
    except TrainConfigError as e:
        problems.append(str(e))
    else:
        terms = reward_terms(args.reward_preset, args.extra_rewards) if args.reward_preset in PRESETS else {}
        problems += [
            f"reward_weight_overrides: {name!r} is not among the rewards of preset {args.reward_preset!r} "
            f"and extra_rewards ({', '.join(terms)}); give one of those names"
            for name in overrides
            if terms and name not in terms
        ]
    return problems
