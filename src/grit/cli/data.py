"""``grit data shapes|check|show``: make, check and look at data in the GRIT_data layout."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from grit.boxes import FrameSpec
from grit.cli.common import UsageError, check_output_file, check_writable, dispatch, image_output, parse
from grit.data.shapes.scene import QUESTION_FAMILIES
from grit.data.shapes.world import DEFAULT_MIX

HELP = "make, check and look at data: shapes | check | show"


@dataclass
class ShapesConfig:
    """``grit data shapes``: the shapes world in the GRIT_data layout, with GRIT-20 from its train split."""

    out: str = field(metadata={"help": "output folder: images/, train/val/test.jsonl, grit20.jsonl"})
    n: int = field(default=1000, metadata={"help": "samples over all splits (80/10/10 train/val/test)", "min": 1})
    seed: int = field(default=0, metadata={"help": "seed of the scenes, the questions and GRIT-20"})
    image_size: int = field(
        default=112,
        metadata={"help": "image side in pixels (grit reads images up to 8000 x 8000)", "min": 28, "max": 8000},
    )
    min_objects: int = field(default=1, metadata={"help": "objects per scene, at least", "min": 1})
    max_objects: int = field(default=6, metadata={"help": "objects per scene, at most", "min": 1})
    max_count: int = field(default=4, metadata={"help": "counting questions' answers run 0..max_count", "min": 0})
    families: list[str] = field(
        default_factory=lambda: list(QUESTION_FAMILIES),
        metadata={"help": "question families to ask", "choices": QUESTION_FAMILIES},
    )
    mix: list[float] | None = field(
        default=None,
        metadata={
            "help": "a weight per family, in --families order (default: "
            + ", ".join(f"{family} {weight}" for family, weight in DEFAULT_MIX.items())
            + ")",
            "min": 0,
        },
    )
    base_tasks: int = field(
        default=0,
        metadata={"help": "also write N base-model tasks (grounding, direct answers) to base_tasks.jsonl", "min": 0},
    )
    overwrite: bool = field(
        default=False,
        metadata={
            "help": "replace an earlier world there: its own files are removed first; a folder that also holds other "
            "files is refused and nothing is deleted, so give the world a folder of its own"
        },
    )


@dataclass
class CheckConfig:
    """``grit data check FILE``: validate a data file and print what it holds."""

    file: str = field(metadata={"help": "a GRIT_data-layout JSONL file", "positional": True})
    images: str | None = field(default=None, metadata={"help": "image folder (default: the file's folder)"})


@dataclass
class ShowConfig:
    """``grit data show FILE --out PNG``: draw samples with their evidence boxes on a contact sheet."""

    file: str = field(metadata={"help": "a GRIT_data-layout JSONL file", "positional": True})
    out: str = field(metadata={"help": "the contact sheet (an image file; .png added if no extension)"})
    images: str | None = field(default=None, metadata={"help": "image folder (default: the file's folder)"})
    n: int = field(default=8, metadata={"help": "samples drawn", "min": 1})
    seed: int = field(default=0, metadata={"help": "seed of the sample choice"})
    columns: int = field(default=4, metadata={"help": "sheet columns", "min": 1})
    overwrite: bool = field(default=False, metadata={"help": "replace --out if it exists"})
    skip_invalid: bool = field(default=False, metadata={"help": "skip (and report) invalid lines instead of stopping"})


def shapes(argv: list[str]) -> int:
    from grit.data import load_samples
    from grit.data.selection import select_grit20
    from grit.data.shapes import WorldConfig
    from grit.data.shapes.world import write_shapes

    (cfg,) = parse(argv, ShapesConfig, prog="grit data shapes", description=ShapesConfig.__doc__)
    mix = None
    if cfg.mix is not None:
        if len(cfg.mix) != len(cfg.families):
            raise UsageError(f"mix: {len(cfg.mix)} weights for {len(cfg.families)} families ({cfg.families})")
        if not sum(cfg.mix) > 0:  # never silently replaced by equal weights
            raise UsageError(f"mix: {cfg.mix} gives every family weight 0; give at least one weight above 0")
        mix = dict(zip(cfg.families, cfg.mix))
    check_writable(cfg.out)
    try:
        world = WorldConfig(
            image_size=cfg.image_size,
            min_objects=cfg.min_objects,
            max_objects=cfg.max_objects,
            max_count=cfg.max_count,
        )
        paths = write_shapes(cfg.out, cfg.n, cfg.seed, world, cfg.families, mix, overwrite=cfg.overwrite)
    except (ValueError, FileExistsError) as e:
        raise UsageError(str(e)) from e
    for path in paths.values():
        print(f"wrote {path} ({sum(1 for _ in path.open())} samples)")
    if cfg.base_tasks:
        from grit.pretrain.tasks import write_base_tasks

        n = write_base_tasks(
            cfg.out, cfg.base_tasks, cfg.seed, world, FrameSpec("resized", max_pixels=cfg.image_size**2)
        )
        print(f"wrote {Path(cfg.out) / 'base_tasks.jsonl'} ({n} grounding and direct-answer examples, never chains)")
    try:
        grit20 = select_grit20(load_samples(paths["train"]), seed=cfg.seed)
    except ValueError as e:
        print(f"no grit20.jsonl: {e}")
        return 0
    out = Path(cfg.out) / "grit20.jsonl"
    with out.open("w", encoding="utf-8") as f:
        for sample in grit20:
            f.write(json.dumps(sample.to_record()) + "\n")
    print(f"wrote {out} (GRIT-20: 10 counting with counts 0-4, 10 spatial, from the train split)")
    return 0


def check(argv: list[str]) -> int:
    from grit.data import read_samples
    from grit.data.inspect import check_report

    (cfg,) = parse(argv, CheckConfig, prog="grit data check", description=CheckConfig.__doc__)
    result = read_samples(cfg.file, cfg.images, skip_invalid=True)
    print(f"{cfg.file}:")
    print(check_report(result))
    return 1 if result.problems else 0


def show(argv: list[str]) -> int:
    from grit.arguments import split_config
    from grit.data import load_samples
    from grit.data.inspect import show_sheet

    (cfg,) = parse(argv, ShowConfig, prog="grit data show", description=ShowConfig.__doc__)
    out = image_output(cfg.out)
    check_output_file(out, cfg.overwrite, {"FILE": cfg.file, "--config": split_config(argv)[0]})
    samples = load_samples(cfg.file, cfg.images, skip_invalid=cfg.skip_invalid)
    if out.exists() and any(s.image_path and s.image_path.resolve() == out.resolve() for s in samples):
        raise UsageError(f"--out {out} is an image of {cfg.file}; the sheet would replace it, so choose another --out")
    try:
        sheet = show_sheet(samples, cfg.n, cfg.seed, cfg.columns)
    except ValueError as e:
        raise UsageError(str(e)) from e
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    print(f"wrote {out} ({min(cfg.n, len(samples))} samples)")
    return 0


def main(argv: list[str]) -> int:
    return dispatch(
        argv,
        "data",
        {
            "shapes": ("generate the shapes world in the GRIT_data layout", shapes),
            "check": ("validate a data file and print what it holds", check),
            "show": ("draw samples with their evidence boxes on a contact sheet", show),
        },
    )
