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
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from grit.boxes import Frame
from grit.data.shapes import WorldConfig, make_scene, plural
from grit.models.families import get_family
from grit.models.loading import Policy, frame_of, load_policy
from grit.pretrain.dense import DenseHeads, cell_targets, dense_loss
from grit.pretrain.probe import HeldOut, evaluate_base, make_heldout
from grit.pretrain.tasks import TASKS, collate, image_dependent_ids, sample_example


@dataclass
class PretrainConfig:
    out: str = "runs/base"
    model: str = ""  # a saved tiny model to start from; empty: build one of `size`
    size: str = "small"
    seed: int = 0
    image_size: int = 112
    min_objects: int = 1
    max_objects: int = 6
    vision_steps: int = 600
    vision_batch: int = 64
    vision_lr: float = 2e-3
    lm_steps: int = 6000
    lm_batch: int = 16
    lm_lr: float = 1e-3
    lm_min_lr: float = 1e-4
    warmup_steps: int = 100
    image_token_weight: float = 3.0
    task_mix: dict = field(default_factory=lambda: {"grounding": 0.5, "direct": 0.35, "tags": 0.15})
    grounding_present_share: float = 0.0  # share of grounding queries about an object that is in the scene
    word_readout: bool = False  # vision stage: also score each cell's colour/shape against the LM's word embeddings
    curriculum_steps: int = 1000
    curriculum_max_objects: int = 2
    eval_every: int = 1000
    save_every: int = 250
    max_minutes: float = 0.0  # wall-clock cap on the language stage (0 = none); the run stops early and says so
    threads: int = 2
    heldout_grounding: int = 100
    heldout_direct: int = 40
    heldout_reasoning: int = 160

    def __post_init__(self):
        problems = []
        if self.size not in ("micro", "tiny", "small"):
            problems.append(f"size {self.size!r}: use micro, tiny or small")
        for name in ("vision_steps", "lm_steps"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        for name in ("vision_batch", "lm_batch", "eval_every", "save_every", "threads"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        unknown = set(self.task_mix) - set(TASKS)
        if unknown or not self.task_mix or min(self.task_mix.values()) < 0:
            problems.append(f"task_mix {self.task_mix}: weights >= 0 for {', '.join(TASKS)}")
        if problems:
            raise ValueError("bad pretrain config: " + "; ".join(problems))

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> PretrainConfig:
        import yaml

        raw = yaml.safe_load(Path(path).read_text()) or {}
        raw.update(overrides or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"{path}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**raw)


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
    def __init__(self, cfg: PretrainConfig, resume: bool = False, log=print):
        self.cfg, self.log, self.out = cfg, log, Path(cfg.out)
        torch.set_num_threads(cfg.threads)
        self.state: dict[str, Any] = {"stage": "vision", "step": 0, "history": []}
        start = self.out / "checkpoint-last" if resume else None
        if resume and not (start and (start / "config.json").exists()):
            raise FileNotFoundError(f"nothing to resume: {start} has no checkpoint")
        if not resume and self.out.exists() and any(self.out.iterdir()):
            raise FileExistsError(f"{self.out} is not empty; pass --resume to continue it, or choose another --out")
        self.policy = self._load(start)
        ip = self.policy.processor.image_processor
        ip.size = {"shortest_edge": 56 * 56, "longest_edge": cfg.image_size**2}
        self.frame = Frame.qwen(cfg.image_size, cfg.image_size, 56 * 56, cfg.image_size**2)
        self.world = WorldConfig(image_size=cfg.image_size, min_objects=cfg.min_objects, max_objects=cfg.max_objects)
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

    # ---- checkpoints -------------------------------------------------------------------------------------
    def save(self, optimizer) -> None:
        tmp = self.out / "checkpoint-last.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)  # our own half-written checkpoint from an interrupted save
        self.policy.model.save_pretrained(tmp)
        self.policy.processor.save_pretrained(tmp)
        torch.save(
            {
                "state": self.state,
                "optimizer": optimizer.state_dict(),
                "heads": self.heads.state_dict(),
                "rng": self.rng.getstate(),
                "torch_rng": torch.get_rng_state(),
            },
            tmp / "trainer_state.pt",
        )
        final = self.out / "checkpoint-last"
        if final.exists():
            shutil.rmtree(final)  # the previous checkpoint of this run, replaced by the newer one
        tmp.rename(final)

    def _restore(self, start: Path) -> None:
        saved = torch.load(start / "trainer_state.pt", weights_only=False)
        self.state, self._optimizer_state = saved["state"], saved["optimizer"]
        self.heads.load_state_dict(saved["heads"])
        self.rng.setstate(saved["rng"])
        torch.set_rng_state(saved["torch_rng"])
        self.log(f"resumed at stage {self.state['stage']}, step {self.state['step']}")

    # ---- stage 1: vision --------------------------------------------------------------------------------
    def _scenes(self, n: int, max_objects: int | None = None):
        cfg = (
            self.world
            if max_objects is None
            else WorldConfig(
                self.world.image_size, 1, max_objects, colours=self.world.colours, shapes=self.world.shapes
            )
        )
        scenes = []
        while len(scenes) < n:
            scene = make_scene(self.rng, cfg)
            if scene is not None:
                scenes.append(scene)
        return scenes

    def vision_stage(self) -> None:
        cfg, model = self.cfg, self.policy.model
        model.train()
        embed = model.get_input_embeddings()
        params = [
            {"params": list(model.model.visual.parameters()) + list(self.heads.parameters()), "weight_decay": 0.01},
            {"params": [embed.weight], "weight_decay": 0.0},
        ]
        optimizer = torch.optim.AdamW(params, lr=cfg.vision_lr, betas=(0.9, 0.98))
        if getattr(self, "_optimizer_state", None) and self.state["stage"] == "vision":
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
            scenes = self._scenes(cfg.vision_batch)
            pixels = self.policy.processor.image_processor([s.render() for s in scenes], return_tensors="pt")
            feats = model.model.visual(pixels["pixel_values"], grid_thw=pixels["image_grid_thw"]).pooler_output
            targets = cell_targets(scenes, grid, cell, list(self.world.colours), list(self.world.shapes), self.frame)
            words = {k: embed(v) for k, v in self.word_ids.items()} if cfg.word_readout else None
            losses = dense_loss(self.heads, feats, targets, embed(self.number_ids), words)
            loss = sum(losses.values())
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for g in params for p in g["params"]], 1.0)
            optimizer.step()
            self.state["step"] = step + 1
            bar.set_postfix({k: f"{v.item():.3f}" for k, v in losses.items()}, refresh=False)
            if (step + 1) % cfg.save_every == 0:
                self.save(optimizer)
        self.state.update(stage="language", step=0)
        self._optimizer_state = None
        self.save(optimizer)

    # ---- stage 2: language ------------------------------------------------------------------------------
    def language_stage(self) -> None:
        cfg, model = self.cfg, self.policy.model
        for p in model.model.visual.parameters():
            p.requires_grad_(False)
        model.train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=cfg.lm_lr, betas=(0.9, 0.98), weight_decay=0.01)
        if getattr(self, "_optimizer_state", None):
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
            max_objects = cfg.curriculum_max_objects if step < cfg.curriculum_steps else None
            world = (
                self.world
                if max_objects is None
                else WorldConfig(
                    cfg.image_size,
                    1,
                    max_objects,
                    colours=self.world.colours,
                    shapes=self.world.shapes,
                    max_count=min(4, max_objects),
                )
            )
            examples = [
                sample_example(self.rng, world, self.frame, cfg.task_mix, cfg.grounding_present_share)
                for _ in range(cfg.lm_batch)
            ]
            batch = collate(self.policy.processor, examples, self.weighted, cfg.image_token_weight)
            labels, weights = batch.pop("labels"), batch.pop("weights")
            logits = model(**batch).logits[:, :-1]
            ce = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100, reduction="none"
            )
            w = weights[:, 1:].reshape(-1)
            loss = (ce * w).sum() / w.sum()
            for group in optimizer.param_groups:
                group["lr"] = _lr(step, cfg)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
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
        }
        (model_dir / "grit_model.json").write_text(json.dumps(info, indent=2) + "\n")
        return final
