"""``grit quickstart``: the whole offline GRIT pipeline on the shipped tiny base and the shapes world, with a report.

1. make the shapes world (GRIT-20 from its train split, a held-out test split);
2. evaluate the shipped base on the test split with the direct and the grounded prompt;
3. label-free format warm start on the base's own outputs (:mod:`grit.warmstart`; a deviation from the paper,
   needed by a tiny base that never samples the chain layout on its own): three warm starts, each on its own
   unlabeled questions, and the mean of their weights (``warm_soup``; :mod:`grit.quickstart_warm`);
4. GRPO-GR on GRIT-20 with ``recipes/shapes_tiny_cpu.yaml``;
5. evaluate again and write ``OUT/report.html`` (:func:`grit.report.quickstart_report`).

Each stage prints a one-line header and shows one progress bar; the logs go to files.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from grit.config import Above, ConfigError, check_fields
from grit.data import load_samples
from grit.data.shapes import COLOURS, SHAPES, WorldConfig, families_problem
from grit.data.shapes.world import DEFAULT_SPLITS, apportion, write_shapes
from grit.evaluate import EvalSettings, evaluate, settings_info, write_outputs
from grit.models.loading import load_policy
from grit.outputs import SHAPES_OUTPUTS, TRAIN_OUTPUTS, OutputFolderError, unknown_entries
from grit.progress import Stage
from grit.provenance import provenance
from grit.quickstart_summary import stage_table
from grit.report import quickstart_report
from grit.threads import set_threads
from grit.warmstart import BOX_SOURCES, LAYOUTS, READ_OFF

SHIPPED_BASE = "assets/shapes-base"
# Generated tokens per grounded answer in the evaluations: a recheck chain writes its boxes twice (~17 tokens each),
# so six boxes need ~230; 128 cut 4 % of the chains short (format 0.963 vs 0.970 at 256, measured).
CHAIN_TOKENS = 256
# Answer words for which the warm start keeps a chain with the sure direct answer after its boxes (--warm_fallback;
# measured no better over five seeds, docs/EXPERIMENTS.md).
FALLBACKS = {"none": (), "words": (*COLOURS, *SHAPES, "yes", "no")}


def shipped_base() -> Path:
    path = Path(str(files("grit") / SHIPPED_BASE))
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(
            f"the shipped base is missing at {path}; train one with "
            "`grit pretrain --config recipes/shapes_base.yaml --out runs/base` and pass --base runs/base/model"
        )
    return path


def default_recipe() -> Path:
    """``recipes/shapes_tiny_cpu.yaml`` of the source tree (or of the working directory)."""
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        path = root / "recipes" / "shapes_tiny_cpu.yaml"
        if path.exists():
            return path
    raise FileNotFoundError("recipes/shapes_tiny_cpu.yaml not found; run from the grit source tree or pass --recipe")


def _eval(
    policy, samples, prompt: str, out: Path, max_new_tokens: int, stage=None, seed=None, model=None
) -> dict[str, Any]:
    """Evaluate and write ``out``; ``model``: the folder of the weights evaluated, when the policy's own path is not
    it (the warm start is trained in memory from the base and saved apart)."""
    settings = EvalSettings(prompt=prompt, batch_size=32, max_new_tokens=max_new_tokens)
    result = evaluate(policy, {"test": samples}, settings, stage)
    write_outputs(
        result, out, {"model": str(model) if model is not None else policy.path, **settings_info(settings)}, seed
    )
    return {"metrics": result.metrics["test"], "rows": result.rows["test"]}


def _figures(m: dict[str, Any], *keys: str) -> str:
    names = {"accuracy": "accuracy", "format_compliance": "format", "union_iou": "IoU"}
    return ", ".join(f"{names[k]} {'-' if m['all'][k] is None else format(m['all'][k], '.3f')}" for k in keys)


# What each of the souped warm starts trains on (warm_soup_data), as the quickstart's header says it.
SOUP_DATA = {
    "own": "each on its own set of chains",
    "pooled": "each on every set's chains together",
    "shared": "all on one set of chains",
}


@dataclass
class QuickstartConfig:
    """The fields of ``grit quickstart``; any ``grit train`` field given beside them overrides the recipe."""

    out: str = field(default="runs/quickstart", metadata={"help": "run folder: data, evaluations, model, report"})
    base: str | None = field(default=None, metadata={"help": "base model folder (default: the shipped tiny base)"})
    seed: int = field(
        default=0, metadata={"help": "seed of the world, the warm start and GRPO-GR", "min": 0, "max": 2**32 - 1}
    )
    seeds: str | None = field(
        default=None,
        metadata={
            "help": "run once per seed (0-4, 0,1,7 or 0-2,9) into OUT/seed-N and write the seeds' table to "
            "OUT/seeds.md; a seed already run there with the same settings is read, not run again"
        },
    )
    n_eval: int = field(default=400, metadata={"help": "held-out test questions evaluated before and after", "min": 1})
    max_objects: int = field(
        default=6, metadata={"help": "the world's objects per scene, at most", "min": 1, "max": 8}
    )
    max_count: int = field(default=4, metadata={"help": "counting questions' answers run 0..max_count", "min": 0})
    warm_examples: int = field(
        default=1000, metadata={"help": "unlabeled train questions the warm start builds chains for", "min": 1}
    )
    warm_steps: int = field(default=200, metadata={"help": "label-free format warm-start SFT steps", "min": 1})
    warm_lr: float = field(default=3e-4, metadata={"help": "warm-start learning rate", "min": Above(0)})
    warm_soup: int = field(
        default=3,
        metadata={
            "help": "warm starts whose weights are averaged (a model soup), each warm_steps SFT steps from the base "
            "with its own seed",
            "min": 1,
        },
    )
    warm_soup_data: str = field(
        default="own",
        metadata={
            "help": "with warm_soup > 1: each warm start on its own warm_examples unlabeled questions' chains (own), "
            "each on every warm start's chains together, in its own order (pooled), or all on one set of chains in "
            "other orders (shared)",
            "choices": tuple(SOUP_DATA),
        },
    )
    warm_layout: str = field(
        default="recheck",
        metadata={"help": "how warm-start chains lay out the base's own answer and boxes", "choices": LAYOUTS},
    )
    warm_boxes: str = field(
        default="listing",
        metadata={
            "help": "where warm-start chains' boxes come from: one listing of every shape by the base, each group the "
            "listed boxes whose own label fits it (listing), or the base's grounding prompt for each group (named)",
            "choices": tuple(BOX_SOURCES),
        },
    )
    warm_agree: bool = field(
        default=True,
        metadata={
            "help": "keep only warm-start chains whose read-off answer agrees with the base's direct one (label-free)"
        },
    )
    warm_consistent: bool = field(
        default=False,
        metadata={
            "help": "keep only warm-start chains whose read-off answer says what their own boxes show: one word, the "
            "number of boxes for a count, the boxes' own label word for a colour or shape (label-free; with "
            "warm_agree, a chain that fails is drawn again as one that disagrees)"
        },
    )
    warm_agree_sure: float = field(
        default=0.7,
        metadata={
            "help": "with warm_agree: drop a chain only where the disagreeing direct answer's first-token probability "
            "is at least this (0: every disagreement)",
            "min": 0,
            "max": 1,
        },
    )
    warm_retries: int = field(
        default=4,
        metadata={
            "help": "with warm_agree: ground a chain that would be dropped again, sampling, up to this many times, "
            "and keep the first grounding whose read-off answer agrees",
            "min": 0,
        },
    )
    warm_correct: bool = field(
        default=False,
        metadata={
            "help": "with warm_retries: a chain whose agreeing boxes came from a retry keeps its first, greedy look "
            "in the think and the agreeing boxes in the rethink (recheck layout)"
        },
    )
    warm_fallback: str = field(
        default="none",
        metadata={
            "help": "with warm_agree: keep a chain that would still be dropped, its boxes then the sure direct answer "
            "where that answer is a colour, a shape, yes or no (words), or never (none)",
            "choices": tuple(FALLBACKS),
        },
    )
    recipe: str | None = field(
        default=None, metadata={"help": "GRPO-GR recipe (default: recipes/shapes_tiny_cpu.yaml)"}
    )
    overwrite: bool = field(default=False, metadata={"help": "write into a non-empty out folder"})

    def __post_init__(self):
        check_fields(self)
        if self.seeds is not None:
            from grit.seeds import parse_seeds

            parse_seeds(self.seeds)
            if self.seed != 0:
                raise ConfigError(f"seed {self.seed} and seeds {self.seeds!r}: give one of them")
        try:  # the world's own checks, before minutes of work
            world = self.world()
        except ValueError as e:
            raise ConfigError(str(e)) from e
        if problem := families_problem(world):  # the quickstart asks every family
            raise ConfigError(problem)
        if self.warm_agree and self.warm_layout not in READ_OFF:
            raise ConfigError(
                f"warm_agree: the {self.warm_layout} layout states the direct answer itself; pass --warm_agree false, "
                "or use warm_layout " + " or ".join(READ_OFF)
            )
        if self.warm_consistent and self.warm_layout not in READ_OFF:
            raise ConfigError(
                f"warm_consistent: the {self.warm_layout} layout does not read its answer off its boxes; pass "
                "--warm_consistent false, or use warm_layout " + " or ".join(READ_OFF)
            )
        if self.warm_correct and (self.warm_layout != "recheck" or not self.warm_agree or not self.warm_retries):
            raise ConfigError(
                "warm_correct: a correcting rethink needs warm_layout recheck, warm_agree and warm_retries > 0 (the "
                f"retries are the corrections; given: warm_layout {self.warm_layout}, warm_agree {self.warm_agree}, "
                f"warm_retries {self.warm_retries}); "
                "pass --warm_correct false or set those"
            )

    def chain_sets(self) -> int:
        """Sets of warm-start chains the run makes: one per warm start (warm_soup_data own or pooled), or one for
        all (shared)."""
        return 1 if self.warm_soup_data == "shared" else self.warm_soup

    def warm_parts(self, train: list) -> list[list]:
        """The unlabeled questions (images and questions only) of each set of warm-start chains, drawn from the
        world's ``train`` split (which holds them all: :meth:`n_data`)."""
        sets = self.chain_sets()
        unlabeled = random.Random(self.seed).sample(train, self.warm_examples * sets)
        return [unlabeled[i * self.warm_examples : (i + 1) * self.warm_examples] for i in range(sets)]

    def n_data(self) -> int:
        """Questions in the run's shapes world (its train, val and test splits together): ten times the held-out
        questions, at least 2000, and enough that the train split holds every warm start's own unlabeled questions."""
        sets = self.chain_sets()
        n = max(2000, 10 * self.n_eval, math.ceil(sets * self.warm_examples / DEFAULT_SPLITS["train"]))
        while apportion(n, DEFAULT_SPLITS)["train"] < sets * self.warm_examples:  # rounding
            n += 1
        return n

    def world(self) -> WorldConfig:
        """The shapes world of the run (the defaults but for its scene size and largest count)."""
        return WorldConfig(max_objects=self.max_objects, max_count=self.max_count)


# grit train's fields the quickstart sets itself, with what to do instead.
QUICKSTART_TRAIN_FIELDS = {
    "model": "the quickstart trains the warm start it makes (OUT/warm); pass --base DIR to start from another tiny "
    "base, or run grit train --config RECIPE --model DIR to train a model of yours",
    "train_data": "the quickstart trains on the shapes world it makes (OUT/data); run grit train --config RECIPE "
    "--train_data FILE to train on your data",
    "images": "the quickstart's images are its shapes world's (OUT/data/images); run grit train to train on yours",
    "output_dir": "the quickstart writes GRPO-GR's run to OUT/grpo; choose OUT with --out",
    "resume": "the quickstart runs every stage again; pass --overwrite to run it again in the same --out",
}


def run_quickstart(
    cfg: QuickstartConfig | None = None, train_overrides: Sequence[str] = (), log=print
) -> dict[str, Any]:
    """The whole pipeline (see the module doc) into ``cfg.out``; ``train_overrides`` are ``--field value`` pairs of
    ``grit train`` fields, checked with the recipe before any work starts. On more than one thread the warm starts
    run in processes of their own (:func:`grit.quickstart_warm.warm_starts`), which import the calling script again, as
    any ``spawn`` process does: a script that calls this needs ``if __name__ == "__main__":``."""
    from grit.grpo import train
    from grit.quickstart_warm import warm_starts
    from grit.train_config import TrainConfigError, field_checks, load_recipe, raise_problems

    cfg = cfg or QuickstartConfig()
    flags = [a[2:].partition("=")[0].replace("-", "_") for a in train_overrides if a.startswith("--")]
    taken = [name for name in flags if name in QUICKSTART_TRAIN_FIELDS]
    if taken:  # fields the quickstart sets itself: overriding them would fail, or train another thing, minutes later
        raise TrainConfigError(f"--{taken[0]}: {QUICKSTART_TRAIN_FIELDS[taken[0]]}")
    out, times, started = Path(cfg.out), {}, time.monotonic()
    base = Path(cfg.base) if cfg.base else shipped_base()
    recipe = cfg.recipe or default_recipe()
    grit_args, grpo = load_recipe(  # a misspelt field fails here, before minutes of work
        recipe,
        [
            "--model",
            str(out / "warm"),
            "--train_data",
            str(out / "data" / "train.jsonl"),
            "--output_dir",
            str(out / "grpo"),
            "--seed",
            str(cfg.seed),
            *train_overrides,
        ],
    )
    raise_problems(field_checks(grit_args, grpo))
    for folder, patterns in ((out / "data", SHAPES_OUTPUTS), (Path(grpo.output_dir), TRAIN_OUTPUTS)):
        strangers = unknown_entries(folder, patterns)  # the stages replace grit's own files there, never others
        if strangers:
            raise OutputFolderError(
                f"{folder} holds files grit did not write ({', '.join(strangers[:10])}); the quickstart replaces "
                "its own outputs there, so move those away or choose another --out"
            )
    grit_args.overwrite = True
    n_data = cfg.n_data()
    stage = Stage(1, 5, "data", f"shapes world, {n_data} questions -> {out / 'data'}", log)
    write_shapes(out / "data", n=n_data, seed=cfg.seed, cfg=cfg.world(), overwrite=True, progress=stage)
    test = load_samples(out / "data" / "test.jsonl")[: cfg.n_eval]
    times["data"] = stage.done(f"{cfg.n_eval} held-out test questions")

    stage = Stage(2, 5, "base eval", f"{base}, direct and grounded prompts, {len(test)} questions", log)
    set_threads(grit_args.threads)  # the recipe's threads in every stage (0: the cores free as it starts)
    policy = load_policy(base)
    before = {
        p: _eval(policy, test, p, out / "eval" / f"base-{p}", 8 if p == "direct" else CHAIN_TOKENS, stage, cfg.seed)
        for p in ("direct", "grounded")
    }
    times["evaluate base"] = stage.done(
        f"direct {_figures(before['direct']['metrics'], 'accuracy')}; grounded "
        f"{_figures(before['grounded']['metrics'], 'accuracy', 'format_compliance')}"
    )

    what = f"{cfg.warm_steps} SFT steps on the base's own chains ({cfg.warm_layout}, boxes from "
    what += f"{BOX_SOURCES[cfg.warm_boxes]})"
    if cfg.warm_soup > 1:
        what = f"{cfg.warm_soup} warm starts of {what}, {SOUP_DATA[cfg.warm_soup_data]}, their weights averaged"
    stage = Stage(3, 5, "warm start", what, log)
    set_threads(grit_args.threads, busy=True)
    parts = cfg.warm_parts(load_samples(out / "data" / "train.jsonl"))
    warm_starts(policy, base, parts, cfg, stage)
    policy.model.save_pretrained(out / "warm")
    policy.processor.save_pretrained(out / "warm")
    warm_eval = out / "eval" / "warm-grounded"
    warm = {"grounded": _eval(policy, test, "grounded", warm_eval, CHAIN_TOKENS, stage, cfg.seed, out / "warm")}
    times["warm start"] = stage.done(
        "grounded " + _figures(warm["grounded"]["metrics"], "accuracy", "format_compliance", "union_iou")
    )

    stage = Stage(4, 5, "GRPO-GR", f"{recipe} -> {out / 'grpo'} (every log: {out / 'grpo' / 'log.jsonl'})", log)
    result = train(grit_args, grpo, progress=stage)
    times["GRPO-GR"] = stage.done(f"{result['global_step']} steps" + _reward_trend(result["history"]))

    stage = Stage(5, 5, "eval", f"the trained model, grounded and direct prompts, {len(test)} questions", log)
    set_threads(grit_args.threads, busy=True)
    trained = load_policy(out / "grpo" / "model")
    after = {
        p: _eval(trained, test, p, out / "eval" / f"grit-{p}", 8 if p == "direct" else CHAIN_TOKENS, stage, cfg.seed)
        for p in ("grounded", "direct")
    }
    times["evaluate trained"] = stage.done(
        "grounded " + _figures(after["grounded"]["metrics"], "accuracy", "format_compliance", "union_iou")
    )
    times["total"] = time.monotonic() - started
    summary = stage_table(before, after, times, result["global_step"], warm)
    summary["provenance"] = provenance(cfg.seed)
    summary["quickstart"] = asdict(cfg)  # the run's own settings: base, world, warm start
    summary["train_overrides"] = list(train_overrides)  # the grit train fields given beside them
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "report.html").write_text(quickstart_report(summary, after["grounded"]["rows"], out), encoding="utf-8")
    return summary


def _reward_trend(history: list[dict]) -> str:
    rewards = [h["reward"] for h in history if isinstance(h.get("reward"), (int, float))]
    if len(rewards) > 1:
        return f", reward {rewards[0]:.3f} -> {rewards[-1]:.3f}"
    return f", reward {rewards[0]:.3f}" if rewards else ""
