"""``grit recipes``: the shipped recipes (``recipes/*.yaml`` of the source tree) under the command each is for, each
with the first sentence of its opening comment.

Paths inside a recipe are relative to the working directory, as command-line flags are (not to the recipe file):
run ``grit train --config recipes/NAME.yaml`` from the repo root, or override the paths with flags."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from grit.cli.common import UsageError, parse

HELP = "list the shipped recipes (grit train|pretrain --config recipes/NAME.yaml)"


@dataclass
class RecipesConfig:
    """``grit recipes``: the shipped recipes, name and what each is for."""


def recipe_folder() -> Path | None:
    """``recipes/`` of the source tree grit runs from, else of the working directory, else None."""
    for root in (Path(__file__).resolve().parents[3], Path.cwd()):
        if (root / "recipes").is_dir():
            return root / "recipes"
    return None


def summary(path: Path) -> str:
    """The first sentence of a recipe's opening comment (its prose lines, before an indented command line)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line[1:]
        if not line.startswith("#") or text.startswith("   ") or text.strip().startswith("`"):
            break
        lines.append(text.strip())
    prose = " ".join(lines)
    end = re.search(r"\.(\s|$)", prose)
    return prose[: end.start() + 1] if end else prose


def command(path: Path) -> str:
    """``pretrain`` for a recipe that sets a field only ``grit pretrain`` takes, else ``train``."""
    import yaml

    from grit.pretrain.config import PretrainConfig
    from grit.train_config import GritTrainArguments

    try:
        keys = set(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (yaml.YAMLError, ValueError, TypeError):  # grit train or pretrain --config says what is wrong
        return "train"
    train_fields = {f.name for f in dataclasses.fields(GritTrainArguments)} | TRL_FIELDS_IN_PRETRAIN
    return "pretrain" if keys & ({f.name for f in dataclasses.fields(PretrainConfig)} - train_fields) else "train"


# Fields of TRL's GRPOConfig that grit pretrain has too (importing TRL to read them would cost seconds).
TRL_FIELDS_IN_PRETRAIN = {"seed", "warmup_steps"}


def main(argv: list[str]) -> int:
    parse(argv, RecipesConfig, prog="grit recipes", description=RecipesConfig.__doc__)
    folder = recipe_folder()
    recipes = sorted(folder.glob("*.yaml")) if folder else []
    if not recipes:
        raise UsageError(
            "no recipes/ folder found: run from the grit source tree (recipes ship with it, not the wheel)"
        )
    print(f"recipes in {folder}; paths inside them are relative to the working directory, so run from the repo root")
    print("or override them with --field value")
    width = max(len(p.stem) for p in recipes)
    for kind in ("train", "pretrain"):
        print(f"\ngrit {kind} --config {folder.name}/NAME.yaml" + (PRETRAIN_NOTE if kind == "pretrain" else ":"))
        for path in (p for p in recipes if command(p) == kind):
            lines = textwrap.wrap(summary(path), 119 - width - 4) or [""]
            print(f"  {path.stem:<{width}}  {lines[0]}")
            for line in lines[1:]:
                print(" " * (width + 4) + line)
    return 0


PRETRAIN_NOTE = " (the tiny base's stages; make base runs them in order):"
