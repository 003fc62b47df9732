"""Run under `accelerate launch` by test_distributed: train a few GRPO-GR steps, then each process writes a digest
of its weights, so the test can check every process ends with the same model."""

import hashlib
import sys
from pathlib import Path

import torch
from accelerate import PartialState


def main(recipe: str, model: str, data: str, out: str) -> None:
    from grit.grpo import build_trainer, load_recipe

    grit_args, grpo = load_recipe(
        recipe,
        [
            "--model",
            model,
            "--train_data",
            data,
            "--output_dir",
            out,
            "--viewer_every",
            "0",
            "--max_steps",
            "2",
            "--learning_rate",
            "0.01",
            "--max_completion_length",
            "40",
        ],
    )
    grit_args.overwrite = True
    trainer, _, _ = build_trainer(grit_args, grpo)
    rank = PartialState().process_index
    Path(out).mkdir(parents=True, exist_ok=True)
    Path(out, f"rank{rank}.initial").write_text(digest(trainer.model))
    trainer.train()
    Path(out, f"rank{rank}.digest").write_text(digest(trainer.model))


def digest(model) -> str:
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        h.update(name.encode() + p.detach().to(torch.float32).numpy().tobytes())
    return h.hexdigest()


if __name__ == "__main__":
    main(*sys.argv[1:5])
