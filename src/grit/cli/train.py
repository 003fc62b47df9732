"""``grit train``: GRPO-GR on TRL's ``GRPOTrainer`` from a recipe, ``--field value`` overriding it; every field of
``GritTrainArguments`` and of TRL's ``GRPOConfig`` (``grit train --help``, ``--help-all``)."""

from __future__ import annotations

from grit.cli.common import UsageError, quiet_transformers

HELP = "GRPO-GR on TRL's GRPOTrainer: --config RECIPE [--field value ...]"


def main(argv: list[str]) -> int:
    from grit.arguments import split_config
    from grit.grpo import train
    from grit.models.loading import ModelLoadError
    from grit.outputs import OutputFolderError
    from grit.train_config import TrainConfigError, load_recipe

    path, overrides = split_config(argv)
    grit_args, grpo_args = load_recipe(path, overrides)
    quiet_transformers()
    try:
        result = train(grit_args, grpo_args)
    except (TrainConfigError, OutputFolderError, ModelLoadError, OSError) as e:
        raise UsageError(str(e)) from e
    if result.get("main", True):  # one line for the run, not one per accelerate process
        print(f"trained {result['global_step']} steps; model in {result['model']}")
    return 0
