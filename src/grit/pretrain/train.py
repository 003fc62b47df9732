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
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from grit.boxes import Frame
from grit.data.shapes import WorldConfig, make_scene, plural
from grit.models.families import get_family
from grit.models.loading import Policy, frame_of, load_policy, resolve_device
from grit.pretrain.checkpoint import LAST, has_checkpoint, restore_checkpoint, save_checkpoint
from grit.pretrain.config import PretrainConfig
from grit.pretrain.dense import DenseHeads, cell_targets, dense_loss
from grit.pretrain.optim import optimizer_step
from grit.pretrain.probe import HeldOut, evaluate_base, make_heldout
from grit.pretrain.tasks import (
    Example,
    collate,
    image_dependent_ids,
    sample_example,
)
from grit.provenance import provenance


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
            if has_checkpoint(self.out / LAST):
                raise FileExistsError(
                    f"{self.out} is not empty; pass --resume to continue it, or choose another --out"
                )
            raise FileExistsError(
                f"{self.out} is not empty and holds no checkpoint to resume (a run stopped before its first save, or "
                "files of another kind); choose another --out, or empty that folder"
            )
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

    def _recorded_config(self) -> dict:
        """The run's settings as recorded: ``size`` names a model built anew, and a started one has its own."""
        config = asdict(self.cfg)
        if self.cfg.model:
            from grit.models.tiny import size_of

            config["size"] = size_of(self.policy.model.config)
        return config

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
        (self.out / "pretrain_config.json").write_text(json.dumps(self._recorded_config(), indent=2) + "\n")
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
            "config": self._recorded_config(),
            "heldout": final,
            "parameters": sum(p.numel() for p in self.policy.model.parameters()),
            "provenance": provenance(self.cfg.seed),  # the machine too: another's arithmetic builds another base
        }
        (model_dir / "grit_model.json").write_text(json.dumps(info, indent=2) + "\n")
        return final
