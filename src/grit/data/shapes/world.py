"""Write the shapes world to disk in the GRIT_data layout: ``DIR/images/*.png`` and ``DIR/{train,val,test}.jsonl``.

Each split draws from its own random stream (seeded by the seed and the split's name), and every sample has a
scene of its own, so splits share no scene. Family proportions are exact (largest remainder) and answers are
balanced within each family.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Sequence
from pathlib import Path

from grit.data.shapes.questions import Question, make_question
from grit.data.shapes.scene import QUESTION_FAMILIES, WorldConfig, families_problem
from grit.outputs import SHAPES_OUTPUTS, OutputFolderError, clear_outputs

DEFAULT_MIX = {"counting": 0.4, "spatial": 0.3, "existence": 0.15, "attribute": 0.15}
DEFAULT_SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}


def apportion(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder).

    >>> apportion(10, {"a": 0.5, "b": 0.3, "c": 0.2})
    {'a': 5, 'b': 3, 'c': 2}
    """
    norm = sum(weights.values())
    if norm <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError(f"weights must be non-negative and not all zero, got {weights}")
    exact = {k: total * w / norm for k, w in weights.items()}
    parts = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - parts[k], reverse=True)[: total - sum(parts.values())]:
        parts[k] += 1
    return parts


def sample_record(q: Question, sample_id: str, image: str, split: str) -> dict:
    size = q.scene.size
    return {
        "id": sample_id,
        "question": q.question,
        "answer": q.answer,
        "answer_type": q.answer_type,
        "image": image,
        "width": size,
        "height": size,
        "bboxs": [list(o.box) for o in q.evidence],
        "dataset": "shapes",
        "split": split,
        "family": q.family,
        "objects": [o.to_record() for o in q.scene.objects],
    }


def generate_split(cfg: WorldConfig, n: int, seed: int, split: str, mix: dict[str, float]) -> list[Question]:
    """``n`` questions for one split, deterministic in (seed, split)."""
    rng = random.Random(f"grit-shapes-{seed}-{split}")
    counts = apportion(n, mix)
    plan = [(family, i) for family, k in counts.items() for i in range(k)]
    rng.shuffle(plan)
    return [make_question(rng, cfg, family, i) for family, i in plan]


def _ours(path: Path) -> bool:
    """Whether ``path`` holds the shapes world's rows (a split's ``"dataset": "shapes"``, or a base task's prompt),
    judged by its first line; an empty file holds nothing to lose."""
    with path.open(encoding="utf-8", errors="replace") as f:
        line = f.readline().strip()
    if not line:
        return True
    try:
        row = json.loads(line)
    except ValueError:
        return False
    return isinstance(row, dict) and (row.get("dataset") == "shapes" or {"task", "prompt"} <= set(row))


def write_shapes(
    out: str | Path,
    n: int = 1000,
    seed: int = 0,
    cfg: WorldConfig | None = None,
    families: Sequence[str] = QUESTION_FAMILIES,
    mix: dict[str, float] | None = None,
    splits: dict[str, float] | None = None,
    overwrite: bool = False,
    progress=None,
) -> dict[str, Path]:
    """Generate and write the shapes world; returns the JSONL path of each split. Refuses to write over any
    file it writes (splits, GRIT-20, base tasks, images: :data:`grit.outputs.SHAPES_OUTPUTS`) unless ``overwrite``;
    then it first removes the world's own files so nothing stale is left, and refuses if ``out`` holds others.
    ``progress``: a :class:`grit.progress.Stage` to show progress in."""
    from grit.progress import phase

    cfg = cfg or WorldConfig()
    unknown = [f for f in families if f not in QUESTION_FAMILIES]
    if unknown:
        raise ValueError(f"unknown question families {unknown}; use some of {', '.join(QUESTION_FAMILIES)}")
    if problem := families_problem(cfg, families):
        raise ValueError(problem)
    mix = {f: (mix or DEFAULT_MIX).get(f, 0.0) for f in families}
    if sum(mix.values()) <= 0:
        mix = {f: 1.0 for f in families}
    out = Path(out)
    splits = splits or DEFAULT_SPLITS
    empty = [split for split, k in apportion(n, splits).items() if k == 0]
    if empty:  # an empty split is a file the loader refuses, written for nothing
        least = next(m for m in itertools.count(n + 1) if all(apportion(m, splits).values()))
        shares = "/".join(f"{100 * w / sum(splits.values()):g}" for w in splits.values())
        raise ValueError(
            f"--n {n} leaves the {' and '.join(empty)} split{'s' * (len(empty) > 1)} empty ({shares} "
            f"{'/'.join(splits)}); give --n {least} or more"
        )
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"--out {out} is a file, not a folder; choose a folder for the world's files")
    paths = {split: out / f"{split}.jsonl" for split in splits}
    # any file the world writes (splits, GRIT-20, base tasks, images), a user's or an older world's: never
    # replaced unasked
    ours = {pattern.partition("/")[0] for pattern in SHAPES_OUTPUTS}
    existing = [str(p) for p in paths.values() if p.exists()] + [
        str(e)
        for e in (sorted(out.iterdir()) if out.is_dir() else [])
        if e.name in ours and e not in paths.values() and not (e.is_dir() and not any(e.iterdir()))
    ]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist; pass --overwrite or choose another --out")
    if overwrite:
        foreign = [p.name for p in sorted(out.glob("*.jsonl")) if p.name in SHAPES_OUTPUTS and not _ours(p)]
        if foreign:  # named like the world's files, but not the world's rows: a user's data, never replaced
            raise OutputFolderError(
                f"--out {out}: {', '.join(foreign)} holds rows grit's shapes world did not write; --overwrite only "
                "replaces the world's own files, so move it away or choose another --out"
            )
        clear_outputs(out, SHAPES_OUTPUTS, "--out")
    (out / "images").mkdir(parents=True, exist_ok=True)
    with phase(progress, "shapes world", n, "question") as bar:
        for split, k in apportion(n, splits).items():
            questions = generate_split(cfg, k, seed, split, mix)
            with paths[split].open("w", encoding="utf-8") as f:
                for i, q in enumerate(questions):
                    name = f"images/{split}-{i:06d}.png"
                    q.scene.render().save(out / name, format="PNG", optimize=False)
                    f.write(json.dumps(sample_record(q, f"{split}-{i:06d}", name, split)) + "\n")
                    bar.update()
    return paths
