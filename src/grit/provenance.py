"""Where a result came from: the code (git commit), the seed, the library versions, the threads and the machine.

Written into ``summary.json`` and ``report.html`` of ``grit quickstart`` and into ``metrics.json`` of ``grit eval``
and ``grit train``, so that two runs whose numbers differ can be traced to what differed between them.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

LIBRARIES = ("grit", "torch", "transformers", "trl")


def git_commit(where: str | Path | None = None) -> str:
    """The commit checked out at ``where`` (default: grit's own source), with ``-dirty`` when files differ from
    it; "unknown" outside a git checkout (an installed wheel) or without git."""
    where = Path(where) if where else Path(__file__).resolve().parent
    try:
        run = lambda *a: subprocess.run(  # noqa: E731
            ["git", *a], cwd=where, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        commit = run("rev-parse", "HEAD")
        dirty = run("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "") if commit else "unknown"


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def cpu_name() -> str:
    """The processor's model name (Linux's /proc/cpuinfo), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def provenance(seed: int | None = None) -> dict[str, Any]:
    """A small JSON-able record of this run's code, seed, libraries, threads and machine.

    >>> sorted(provenance(seed=0))
    ['git_commit', 'machine', 'seed', 'threads', 'versions']
    """
    import torch

    return {
        "git_commit": git_commit(),
        "seed": seed,
        "versions": {"python": platform.python_version(), **{name: _version(name) for name in LIBRARIES}},
        "threads": torch.get_num_threads(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpu_count": os.cpu_count(),
            "cpu": cpu_name(),
            # The kernels torch picks (e.g. AVX2, AVX512): machines that differ here may round differently, and a
            # long training run turns that into other weights (docs/EXPERIMENTS.md, "another machine's arithmetic").
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "accelerator": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        },
    }


def provenance_line(record: dict[str, Any]) -> str:
    """One line for a page or a console: commit, seed, versions, threads, machine."""
    versions = ", ".join(f"{k} {v}" for k, v in record["versions"].items())
    machine = record["machine"]
    seed = "" if record["seed"] is None else f"seed {record['seed']} · "  # an evaluation draws nothing at random
    return (
        f"commit {record['git_commit']} · {seed}{versions} · {record['threads']} threads · "
        f"{machine['platform']}, {machine['cpu_count']} CPUs ({machine.get('cpu', 'unknown')}, torch "
        f"{machine.get('torch_cpu_capability', 'unknown')}), accelerator {machine['accelerator']}"
    )
