"""``grit recipes``: the shipped recipes (``recipes/*.yaml`` of the source tree), each with its first comment line.

Paths inside a recipe are relative to the working directory, as command-line flags are (not to the recipe file):
run ``grit train --config recipes/NAME.yaml`` from the repo root, or override the paths with flags."""

from __future__ import annotations

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


def first_comment(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def main(argv: list[str]) -> int:
    parse(argv, RecipesConfig, prog="grit recipes", description=RecipesConfig.__doc__)
    folder = recipe_folder()
    recipes = sorted(folder.glob("*.yaml")) if folder else []
    if not recipes:
        raise UsageError(
            "no recipes/ folder found: run from the grit source tree (recipes ship with it, not the wheel)"
        )
    width = max(len(p.stem) for p in recipes)
    print(f"recipes in {folder} (use: grit train --config {folder.name}/NAME.yaml; paths inside are relative to")
    print("the working directory, so run from the repo root or override them with --field value):")
    for path in recipes:
        print(f"  {path.stem:<{width}}  {first_comment(path)}")
    return 0
