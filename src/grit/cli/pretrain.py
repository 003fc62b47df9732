"""``grit pretrain``: train the tiny base to ground and answer on the shapes world (never chains)."""

from __future__ import annotations

from pathlib import Path

from grit.cli.common import UsageError, check_writable, parse, quiet_transformers

HELP = "train the tiny base to ground and answer on the shapes world"


def main(argv: list[str]) -> int:
    from grit.models.loading import ModelLoadError
    from grit.pretrain.config import PretrainConfig
    from grit.pretrain.train import Pretrainer

    (cfg,) = parse(
        argv,
        PretrainConfig,
        prog="grit pretrain",
        usage="grit pretrain --config RECIPE [--field value ...]",
        description="Two stages: dense heads train the vision tower, then the language model learns grounding, "
        "direct answers and tags. A recipe (recipes/shapes_base.yaml) sets any field below; --field value "
        "overrides it, e.g. grit pretrain --config recipes/shapes_base.yaml --out runs/base",
    )
    check_writable(cfg.out)
    quiet_transformers()
    try:
        trainer = Pretrainer(cfg)
    except (FileExistsError, FileNotFoundError, ModelLoadError) as e:
        raise UsageError(str(e)) from e
    final = trainer.run()
    print("held-out: " + ", ".join(f"{k} {v:.3f}" for k, v in final.items() if isinstance(v, float)))
    print(f"wrote {Path(cfg.out) / 'model'}")
    return 0
