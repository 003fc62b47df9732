"""Pretraining speed and learning over wall time on 2 cores: steps per second of each stage and held-out grounding
IoU as training goes, for a short run of the shipped recipe's model size; then the shipped base's own curve.
Run: .venv/bin/python bench/bench_pretrain.py [--vision-steps 100] [--lm-steps 600] [--eval-every 200]
     .venv/bin/python bench/bench_pretrain.py --heldout [MODEL_DIR]   # a base (default: the shipped one) on a larger
     held-out stream than the run's own (seed 1: 400 grounding queries, 100 direct questions per family)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from importlib.resources import files
from pathlib import Path

from transformers.utils import logging as hf_logging


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="small")
    parser.add_argument("--vision-steps", type=int, default=100)
    parser.add_argument("--lm-steps", type=int, default=600)
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--heldout", nargs="?", const="shipped", default=None, metavar="MODEL_DIR")
    a = parser.parse_args()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if a.heldout:
        return larger_heldout(a.heldout)
    from grit.pretrain.config import PretrainConfig
    from grit.pretrain.train import Pretrainer

    with tempfile.TemporaryDirectory() as tmp:
        cfg = PretrainConfig(
            out=str(Path(tmp) / "run"),
            size=a.size,
            vision_steps=a.vision_steps,
            lm_steps=a.lm_steps,
            eval_every=a.eval_every,
            save_every=10**9,
            heldout_grounding=40,
            heldout_direct=10,
        )
        trainer = Pretrainer(cfg, log=lambda *_: None)
        start = time.perf_counter()
        trainer.vision_stage()
        vision_s = time.perf_counter() - start
        start = time.perf_counter()
        trainer.language_stage()
        language_s = time.perf_counter() - start
        history = trainer.state["history"]
    evals = sum(1 for _ in history)
    print(
        f"model {a.size}: vision stage {a.vision_steps / vision_s:.2f} steps/s (batch {cfg.vision_batch}); "
        f"language stage {a.lm_steps / language_s:.2f} steps/s incl. {evals} held-out evals (batch {cfg.lm_batch})"
    )
    print(f"{'language step':>14}{'grounding mIoU':>16}{'recall@.5':>11}{'image-use gap':>15}")
    for h in history:
        print(
            f"{h['step']:>14}{h['grounding_matched_iou']:>16.3f}{h['grounding_recall50']:>11.3f}{h['image_use_gap']:>15.3f}"
        )
    shipped = Path(str(files("grit") / "assets" / "shapes-base"))
    for name, recipe in (
        ("pretrain_eval.jsonl", "recipes/shapes_base.yaml"),
        ("pretrain_eval_stage2.jsonl", "recipes/shapes_base_instruct.yaml"),
    ):
        if (shipped / name).exists():
            print(f"shipped base, held-out over its {recipe} run:")
            for h in (json.loads(line) for line in (shipped / name).read_text().splitlines()):
                print(
                    f"{h['step']:>14}{h['grounding_matched_iou']:>16.3f}{h['grounding_recall50']:>11.3f}"
                    f"{h['image_use_gap']:>15.3f}"
                )


def larger_heldout(model: str) -> None:
    import torch

    from grit.boxes import Frame
    from grit.data.shapes import WorldConfig
    from grit.models.loading import load_policy
    from grit.pretrain.probe import evaluate_base, make_heldout

    torch.set_num_threads(2)
    path = Path(str(files("grit") / "assets" / "shapes-base")) if model == "shipped" else Path(model)
    policy = load_policy(path)
    policy.processor.image_processor.size = {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}
    frame = Frame.qwen(112, 112, 56 * 56, 112 * 112)
    heldout = make_heldout(WorldConfig(image_size=112), frame, seed=1, n_grounding=400, n_direct=100)
    start = time.perf_counter()
    result = evaluate_base(policy, heldout, frame)
    print(
        f"{path}: held-out seed 1 (400 grounding queries, 100 questions per family), "
        f"{time.perf_counter() - start:.0f} s"
    )
    for k, v in result.items():
        print(f"  {k:<28}{v:.3f}")


if __name__ == "__main__":
    main()
