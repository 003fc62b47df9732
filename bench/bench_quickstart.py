"""The quickstart of this tree against a baseline commit's, side by side on the same machine at the same time.

This machine's speed moves from day to day (the same commit's quickstart took 7.2 min one day and 10.2 min another),
so a time measured alone says little about the code. Here both run at once, one torch thread each, so that each has a
core and both meet the same machine: the ratio of their stage times is the code's, and the figures (accuracies per
family and stage) should be equal where the change was meant to keep them. The baseline is ``git archive``d into a
temporary folder and run from its own ``src`` with this environment's packages.

Default: a scaled-down quickstart (40 held-out questions, 64 warm-start questions, 10 warm-start steps, 2 GRPO-GR
steps; about 2 min): its figures mean nothing, only their equality and the times. ``--full``: the real quickstart
(about 15 min at one thread each).
Run: .venv/bin/python bench/bench_quickstart.py [--baseline 58f09fd] [--full] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCALED_DOWN = ["--n_eval", "40", "--warm_examples", "64", "--warm_steps", "10", "--max_steps", "2"]


def unpack(rev: str, folder: Path) -> Path:
    """The tree of commit ``rev`` in ``folder`` (nothing of this repository's state is touched)."""
    archive = folder / "tree.tar"
    with archive.open("wb") as f:
        subprocess.run(["git", "-C", str(ROOT), "archive", rev], stdout=f, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "tree", filter="data")
    return folder / "tree"


def figures(summary: dict) -> dict:
    """A run's accuracy, format and IoU per family and stage: what must not move when only the speed changed."""
    return summary["table"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="58f09fd", help="commit to compare with (default: %(default)s)")
    parser.add_argument("--full", action="store_true", help="the real quickstart instead of the scaled-down one")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="grit-bench-quickstart-") as tmp:
        trees = {f"baseline {args.baseline}": unpack(args.baseline, Path(tmp)), "this tree": ROOT}
        runs = {}
        for name, tree in trees.items():
            out = Path(tmp) / name.replace(" ", "-")
            command = [sys.executable, "-m", "grit", "quickstart", "--out", str(out), "--threads", "1"]
            command += ["--seed", str(args.seed)] + ([] if args.full else SCALED_DOWN)
            log = (Path(tmp) / f"{out.name}.log").open("w")
            env = {**os.environ, "PYTHONPATH": str(tree / "src"), "HF_HUB_OFFLINE": "1"}
            runs[name] = (subprocess.Popen(command, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT), out, log)
        summaries = {}
        for name, (process, out, log) in runs.items():
            process.wait()
            log.close()
            if process.returncode:
                print(f"{name}: the quickstart failed (exit {process.returncode}); its log:")
                print(Path(log.name).read_text()[-3000:])
                return 1
            summaries[name] = json.loads((out / "summary.json").read_text())
    (base, a), (this, b) = summaries.items()
    kind = "full" if args.full else "scaled-down"
    print(f"the {kind} quickstart, seed {args.seed}, one thread each, side by side: seconds per stage")
    print(f"{'stage':<18} {base:>18} {this:>12} {'ratio':>7}")
    for stage, seconds in a["seconds"].items():
        mine = b["seconds"].get(stage)
        ratio = f"{mine / seconds:7.2f}" if mine is not None and seconds else "      -"
        print(f"{stage:<18} {seconds:18.1f} {mine if mine is not None else float('nan'):12.1f} {ratio}")
    same = figures(a) == figures(b)
    print(f"figures (accuracy, format, IoU per family and stage): {'the same' if same else 'DIFFERENT'}")
    if not same:
        for family in sorted(set(figures(a)) | set(figures(b))):
            if figures(a).get(family) != figures(b).get(family):
                print(f"  {family}: {figures(a).get(family)} -> {figures(b).get(family)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
