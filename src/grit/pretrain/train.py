"""``grit pretrain``: train the tiny base to see and to say what it sees, in two stages.

1. **vision**: dense heads on the merged image tokens (:mod:`grit.pretrain.dense`) train the vision tower and
   merger on fresh scenes; the language model is idle.
2. **language**: the tower is frozen; the language model learns grounding, direct answers and tag following
   (:mod:`grit.pretrain.tasks`) with image-dependent tokens weighted up and a curriculum that starts on scenes
   with few objects.
Held-out evaluation every ``eval_every`` steps (:mod:`grit.pretrain.probe`), checkpoints in safetensors,
resumable from ``OUT/checkpoint-last``. Never a grounded reasoning chain: that is GRPO-GR's to find.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from grit.boxes import Frame
from grit.config import ConfigError, field_problems
from grit.data.shapes import QUESTION_FAMILIES, WorldConfig, make_scene, plural
from grit.models.families import get_family
from grit.models.loading import Policy, device_field, frame_of, load_policy, resolve_device
from grit.models.tiny import IMAGE_GRID, SIZES
from grit.pretrain.checkpoint import LAST, has_checkpoint, restore_checkpoint, save_checkpoint
from grit.pretrain.dense import DenseHeads, cell_targets, dense_loss
from grit.pretrain.optim import optimizer_step
from grit.pretrain.probe import HeldOut, evaluate_base, make_heldout
from grit.pretrain.tasks import (
    INSTRUCTED_KIND_WEIGHTS,
    INSTRUCTED_KINDS,
    REASONING_FAMILIES,
    REASONING_FORMS,
    REASONING_IMAGE_KINDS,
    REASONING_IMAGES,
    TASKS,
    Example,
    collate,
    image_dependent_ids,
    sample_example,
)
from grit.provenance import provenance


def _help(text: str, **more) -> dict:
    return {"help": text, **more}


@dataclass
class PretrainConfig:
    """The fields of ``grit pretrain`` (a recipe: recipes/shapes_base.yaml)."""

    out: str = field(default="runs/base", metadata=_help("run folder: checkpoints, eval.jsonl, model/"))
    model: str = field(default="", metadata=_help("a saved tiny model to start from; empty: build one of `size`"))
    size: str = field(default="small", metadata=_help("size of a newly built tiny model", choices=tuple(SIZES)))
    seed: int = field(default=0, metadata=_help("seed of the model, the scenes and the held-out set"))
    image_size: int = field(default=112, metadata=_help("scene side in pixels (a multiple of 28)", min=28))
    min_objects: int = field(default=1, metadata=_help("objects per scene, at least", min=1))
    max_objects: int = field(default=6, metadata=_help("objects per scene, at most", min=1))
    max_count: int = field(default=4, metadata=_help("counting questions' answers run 0..max_count", min=0))
    vision_steps: int = field(default=600, metadata=_help("stage 1 (vision tower + dense heads) steps", min=0))
    vision_batch: int = field(default=64, metadata=_help("stage 1 scenes per step", min=1))
    vision_lr: float = field(default=2e-3, metadata=_help("stage 1 learning rate"))
    lm_steps: int = field(default=6000, metadata=_help("stage 2 (language model, tower frozen) steps", min=0))
    lm_batch: int = field(default=16, metadata=_help("stage 2 examples per step", min=1))
    lm_lr: float = field(default=1e-3, metadata=_help("stage 2 peak learning rate (cosine to lm_min_lr)"))
    lm_min_lr: float = field(default=1e-4, metadata=_help("stage 2 final learning rate"))
    warmup_steps: int = field(default=100, metadata=_help("stage 2 linear warm-up steps", min=0))
    image_token_weight: float = field(
        default=3.0, metadata=_help("loss weight of target tokens that depend on the image (numbers, colours...)")
    )
    task_mix: dict = field(
        default_factory=lambda: {"grounding": 0.5, "direct": 0.35, "tags": 0.15},
        metadata=_help(f"stage 2 task weights, a mapping over {', '.join(TASKS)}"),
    )
    reasoning_families: dict = field(
        default_factory=lambda: dict(REASONING_FAMILIES),
        metadata=_help(f"question families of the reasoning task, a mapping over {', '.join(QUESTION_FAMILIES)}"),
    )
    reasoning_images: list[str] = field(
        default_factory=lambda: list(REASONING_IMAGES),
        metadata=_help(
            "images of the reasoning task, drawn from: none, other (another scene's), own (the question's)",
            choices=REASONING_IMAGE_KINDS,
        ),
    )
    reasoning_forms: list[float] = field(
        default_factory=lambda: [1.0, 0.0, 0.0, 0.0],
        metadata=_help(
            f"weights of the reasoning task's prompt forms: {', '.join(REASONING_FORMS)} (an instruction after the "
            "question: answer only, write the boxes between two tags, or two to five general sentences; the boxes are "
            "given)",
            min=0,
        ),
    )
    instructed_counting_share: float = field(
        default=0.0,
        metadata=_help("share of instructed questions that are counting ones (else any family)", min=0, max=1),
    )
    instructed_kinds: list[float] = field(
        default_factory=lambda: list(INSTRUCTED_KIND_WEIGHTS),
        metadata=_help(
            f"weights of the instructed task's kinds: {', '.join(INSTRUCTED_KINDS)} (answer only, the answer between "
            "tags, the boxes of the objects the instruction names then the answer, the boxes of the objects left to "
            "read from the question then the answer)",
            min=0,
        ),
    )
    instructed_long_share: float = field(
        default=0.0,
        metadata=_help(
            "share of instructions to write boxes that two to five general sentences precede (the model's own boxes "
            "far from the question)",
            min=0,
            max=1,
        ),
    )
    grounding_present_share: float = field(
        default=0.0, metadata=_help("share of grounding queries about an object that is in the scene", min=0)
    )
    grounding_group_share: float = field(
        default=0.0,
        metadata=_help(
            "share of grounding queries for the group a counting question counts (often several alike)", min=0
        ),
    )
    grounding_extreme_share: float = field(
        default=0.0,
        metadata=_help('share of grounding queries for the shape a superlative picks ("the leftmost shape")', min=0),
    )
    word_readout: bool = field(
        default=False, metadata=_help("stage 1: also score each cell's colour/shape against the LM's word embeddings")
    )
    curriculum_steps: int = field(
        default=1000, metadata=_help("stage 2 starts with this many steps on scenes of few objects", min=0)
    )
    curriculum_max_objects: int = field(default=2, metadata=_help("objects per scene during the curriculum", min=1))
    eval_every: int = field(default=1000, metadata=_help("held-out evaluation every N stage 2 steps", min=1))
    save_every: int = field(default=250, metadata=_help("checkpoint every N steps", min=1))
    max_minutes: float = field(
        default=0.0, metadata=_help("wall-clock cap on stage 2 (0: none); the run stops early and says so", min=0)
    )
    threads: int = field(default=2, metadata=_help("torch CPU threads", min=1))
    device: str = device_field()
    heldout_grounding: int = field(default=100, metadata=_help("held-out grounding queries", min=1))
    heldout_direct: int = field(default=40, metadata=_help("held-out direct questions per question family", min=1))
    heldout_reasoning: int = field(
        default=160, metadata=_help("held-out reasoning questions (gold boxes given, the answer asked)", min=1)
    )
    resume: bool = field(default=False, metadata=_help("continue from OUT/checkpoint-last"))

    def __post_init__(self):
        problems = field_problems(self)
        unknown = set(self.task_mix) - set(TASKS)
        if unknown or not sum(self.task_mix.values()) > 0 or min(self.task_mix.values()) < 0:
            problems.append(
                f"task_mix: {self.task_mix}: give weights >= 0, at least one above 0, for {', '.join(TASKS)}"
            )
        families = self.reasoning_families
        if set(families) - set(QUESTION_FAMILIES) or not sum(families.values()) > 0 or min(families.values()) < 0:
            problems.append(
                f"reasoning_families: {families}: give weights >= 0, at least one above 0, for "
                f"{', '.join(QUESTION_FAMILIES)}"
            )
        if self.image_size % IMAGE_GRID:
            below = self.image_size // IMAGE_GRID * IMAGE_GRID
            problems.append(
                f"image_size: {self.image_size} is not a multiple of {IMAGE_GRID} (the vision tower's 14-pixel "
                f"patches, merged 2 x 2); give {max(IMAGE_GRID, below)} or {below + IMAGE_GRID}"
            )
        for name, names in (("instructed_kinds", INSTRUCTED_KINDS), ("reasoning_forms", REASONING_FORMS)):
            weights = getattr(self, name)  # one weight per name; each >= 0 is checked by field_problems
            if len(weights) != len(names) or not sum(weights):
                problems.append(
                    f"{name}: {weights}: give {len(names)} weights >= 0, one for each of {', '.join(names)}"
                )
        if self.grounding_group_share + self.grounding_extreme_share > 1:
            problems.append(
                f"grounding_group_share + grounding_extreme_share: {self.grounding_group_share} + "
                f"{self.grounding_extreme_share} is over 1; give shares of the grounding queries that sum to at most 1"
            )
        if not self.reasoning_images:
            problems.append(f"reasoning_images: give a list of {', '.join(REASONING_IMAGE_KINDS)}")
        if not problems:  # the world's own checks, once each field is in its range
            try:
                self.world()
            except ValueError as e:
                problems.append(str(e))
        if problems:
            raise ConfigError("bad pretrain config: " + "; ".join(problems))

    def world(self) -> WorldConfig:
        """The shapes world the stage's scenes come from."""
        return WorldConfig(
            image_size=self.image_size,
            min_objects=self.min_objects,
            max_objects=self.max_objects,
            max_count=self.max_count,
        )


def _word_ids(tokenizer, words) -> torch.Tensor:
    """The single token of " word" for each word (as the prompts spell it, after a space)."""
    ids = []
    for word in words:
        pieces = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
        if len(pieces) != 1:
            raise ValueError(f"word_readout needs ' {word}' to be one token of the tokenizer; it is {len(pieces)}")
        ids.append(pieces[0])
    return torch.tensor(ids)


def _lr(step: int, cfg: PretrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lm_lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.lm_steps - cfg.warmup_steps)
    return cfg.lm_min_lr + 0.5 * (cfg.lm_lr - cfg.lm_min_lr) * (1 + math.cos(math.pi * min(progress, 1.0)))


class Pretrainer:
    """The two stages, their held-out evaluation and checkpoints (:mod:`grit.pretrain.checkpoint`).
    ``resume`` (default: ``cfg.resume``) continues from ``OUT/checkpoint-last``."""

    def __init__(self, cfg: PretrainConfig, resume: bool | None = None, log=print):
        self.cfg, self.log, self.out = cfg, log, Path(cfg.out)
        resume = cfg.resume if resume is None else resume
        torch.set_num_threads(cfg.threads)
        self.device = resolve_device(cfg.device)
        self.state: dict[str, Any] = {"stage": "vision", "step": 0, "history": []}
        self._optimizer_state: dict | None = None
        start = self.out / LAST if resume else None
        if start is not None and not has_checkpoint(start):
            raise FileNotFoundError(f"nothing to resume: {start} has no checkpoint")
        if self.out.exists() and not self.out.is_dir():
            raise FileExistsError(f"--out: {self.out} is a file, not a folder; choose a folder for the run")
        if not resume and self.out.exists() and any(self.out.iterdir()):
            raise FileExistsError(f"{self.out} is not empty; pass --resume to continue it, or choose another --out")
        self.policy = self._load(start)
        ip = self.policy.processor.image_processor
        ip.size = {"shortest_edge": 56 * 56, "longest_edge": cfg.image_size**2}
        self.frame = Frame.qwen(cfg.image_size, cfg.image_size, 56 * 56, cfg.image_size**2)
        self.world = cfg.world()
        self.heldout: HeldOut = make_heldout(
            self.world,
            self.frame,
            cfg.seed,
            cfg.heldout_grounding,
            cfg.heldout_direct,
            n_reasoning=cfg.heldout_reasoning,
        )
        tok = self.policy.tokenizer
        self.number_ids = torch.tensor([tok.convert_tokens_to_ids(str(n)) for n in range(cfg.image_size + 1)])
        self.weighted = image_dependent_ids(tok, cfg.image_size)
        self.word_ids = {
            "colour": _word_ids(tok, self.world.colours),
            "shape": _word_ids(tok, self.world.shapes),
            "shapes": _word_ids(tok, [plural(s) for s in self.world.shapes]),
        }
        hidden = self.policy.model.config.text_config.hidden_size
        self.heads = DenseHeads(hidden, len(self.world.colours), len(self.world.shapes))
        self.policy.model.to(self.device)
        self.heads.to(self.device)
        self.number_ids = self.number_ids.to(self.device)
        self.word_ids = {k: v.to(self.device) for k, v in self.word_ids.items()}
        self.rng = random.Random(f"grit-pretrain-{cfg.seed}")
        torch.manual_seed(cfg.seed)
        if start is not None:
            self._restore(start)

    def _load(self, start: Path | None) -> Policy:
        if start is not None:
            return load_policy(start)
        if self.cfg.model:
            return load_policy(self.cfg.model)
        from grit.models.tiny import TinySpec, build_tiny

        model, processor = build_tiny(TinySpec(size=self.cfg.size, image_size=self.cfg.image_size, seed=self.cfg.seed))
        family = get_family("qwen2_5_vl")
        return Policy(model, processor, family, frame_of(processor, family), "")

    def save(self, optimizer) -> None:
        save_checkpoint(self.out, self.policy, self.state, optimizer, self.heads, self.rng)

    def _restore(self, start: Path) -> None:
        self.state, self._optimizer_state = restore_checkpoint(start, self.heads, self.rng)
        self.log(f"resumed at stage {self.state['stage']}, step {self.state['step']}")

    def _world(self, max_objects: int | None = None) -> WorldConfig:
        """The run's world, or (the curriculum) the same with 1 to ``max_objects`` objects a scene."""
        if max_objects is None:
            return self.world
        count = min(self.world.max_count, max_objects)
        return replace(self.world, min_objects=1, max_objects=max_objects, max_count=count)

    def scenes(self, n: int, max_objects: int | None = None):
        """``n`` scenes from the run's random stream (a vision step's batch)."""
        cfg = self._world(max_objects)
        scenes = []
        while len(scenes) < n:
            scene = make_scene(self.rng, cfg)
            if scene is not None:
                scenes.append(scene)
        return scenes

    def examples(self, step: int) -> list[Example]:
        """Language step ``step``'s batch, drawn from the run's random stream (the curriculum's world first)."""
        cfg = self.cfg
        world = self._world(cfg.curriculum_max_objects if step < cfg.curriculum_steps else None)
        instructed = {
            "counting_share": cfg.instructed_counting_share,
            "kinds": cfg.instructed_kinds,
            "long_share": cfg.instructed_long_share,
        }
        return [
            sample_example(
                self.rng,
                world,
                self.frame,
                cfg.task_mix,
                cfg.grounding_present_share,
                cfg.reasoning_families,
                cfg.reasoning_images,
                cfg.reasoning_forms,
                cfg.grounding_group_share,
                cfg.grounding_extreme_share,
                instructed,
            )
            for _ in range(cfg.lm_batch)
        ]

    def vision_stage(self) -> None:
        cfg, model = self.cfg, self.policy.model
        model.train()
        embed = model.get_input_embeddings()
        params = [
            {"params": list(model.model.visual.parameters()) + list(self.heads.parameters()), "weight_decay": 0.01},
            {"params": [embed.weight], "weight_decay": 0.0},
        ]
        optimizer = torch.optim.AdamW(params, lr=cfg.vision_lr, betas=(0.9, 0.98))
        if self._optimizer_state and self.state["stage"] == "vision":
            optimizer.load_state_dict(self._optimizer_state)
        grid, cell = cfg.image_size // 28, 28
        bar = tqdm(
            range(self.state["step"], cfg.vision_steps),
            desc="vision",
            initial=self.state["step"],
            total=cfg.vision_steps,
            mininterval=10,
        )
        for step in bar:
            scenes = self.scenes(cfg.vision_batch)
            images = [s.render() for s in scenes]
            pixels = self.policy.processor.image_processor(images, return_tensors="pt").to(self.device)
            # (B * grid * grid, H): the merged image tokens of every scene, one per 28 px cell
            feats = model.model.visual(pixels["pixel_values"], grid_thw=pixels["image_grid_thw"]).pooler_output
            targets = cell_targets(scenes, grid, cell, list(self.world.colours), list(self.world.shapes), self.frame)
            targets = tuple(t.to(self.device) for t in targets)
            words = {k: embed(v) for k, v in self.word_ids.items()} if cfg.word_readout else None
            losses = dense_loss(self.heads, feats, targets, embed(self.number_ids), words)
            optimizer_step(optimizer, sum(losses.values()), [p for g in params for p in g["params"]])
            self.state["step"] = step + 1
            bar.set_postfix({k: f"{v.item():.3f}" for k, v in losses.items()}, refresh=False)
            if (step + 1) % cfg.save_every == 0:
                self.save(optimizer)
        self.state.update(stage="language", step=0)
        self._optimizer_state = None
        self.save(optimizer)

    def language_stage(self) -> None:
        cfg, model = self.cfg, self.policy.model
        for p in model.model.visual.parameters():
            p.requires_grad_(False)
        model.train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=cfg.lm_lr, betas=(0.9, 0.98), weight_decay=0.01)
        if self._optimizer_state:
            optimizer.load_state_dict(self._optimizer_state)
        started = time.monotonic()
        bar = tqdm(
            range(self.state["step"], cfg.lm_steps),
            desc="language",
            initial=self.state["step"],
            total=cfg.lm_steps,
            mininterval=10,
        )
        for step in bar:
            examples = self.examples(step)
            batch = collate(self.policy.processor, examples, self.weighted, cfg.image_token_weight).to(self.device)
            labels, weights = batch.pop("labels"), batch.pop("weights")
            logits = model(**batch).logits[:, :-1]  # (B, T-1, V): position t predicts token t+1
            ce = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),  # (B*(T-1), V)
                labels[:, 1:].reshape(-1),  # (B*(T-1),)
                ignore_index=-100,
                reduction="none",
            )
            w = weights[:, 1:].reshape(-1)  # (B*(T-1),) per-token loss weights
            loss = (ce * w).sum() / w.sum()
            for group in optimizer.param_groups:
                group["lr"] = _lr(step, cfg)
            optimizer_step(optimizer, loss, trainable)
            self.state["step"] = step + 1
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            if (step + 1) % cfg.save_every == 0:
                self.save(optimizer)
            if (step + 1) % cfg.eval_every == 0:
                self.evaluate()
            if cfg.max_minutes and time.monotonic() - started > cfg.max_minutes * 60:
                self.log(f"time budget of {cfg.max_minutes} min reached at language step {step + 1} of {cfg.lm_steps}")
                self.state["stopped_early_at"] = step + 1
                break
        self.state.update(stage="done")
        self.save(optimizer)

    def evaluate(self) -> dict[str, float]:
        result = evaluate_base(self.policy, self.heldout, self.frame)
        result["step"] = self.state["step"]
        self.state["history"].append(result)
        self.out.mkdir(parents=True, exist_ok=True)
        with (self.out / "eval.jsonl").open("a") as f:
            f.write(json.dumps(result) + "\n")
        self.log(
            "eval " + ", ".join(f"{k} {v:.3f}" for k, v in result.items() if k != "step") + f" @ step {result['step']}"
        )
        return result

    def run(self) -> dict[str, float]:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "pretrain_config.json").write_text(json.dumps(asdict(self.cfg), indent=2) + "\n")
        started = time.monotonic()
        if self.state["stage"] == "vision":
            self.vision_stage()
        if self.state["stage"] == "language":
            self.language_stage()
        final = self.evaluate()
        final["minutes"] = (time.monotonic() - started) / 60
        model_dir = self.out / "model"
        self.policy.model.save_pretrained(model_dir)
        self.policy.processor.save_pretrained(model_dir)
        info = {
            "built_by": "grit pretrain",
            "config": asdict(self.cfg),
            "heldout": final,
            "parameters": sum(p.numel() for p in self.policy.model.parameters()),
            "provenance": provenance(self.cfg.seed),  # the machine too: another's arithmetic builds another base
        }
        (model_dir / "grit_model.json").write_text(json.dumps(info, indent=2) + "\n")
        return final
