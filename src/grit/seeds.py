"""The quickstart over several seeds: one run per seed (each its own shapes world, warm starts, GRIT-20 and held-out
questions), and what the runs say together.

A single run's intervals cover the sampling of its 400 held-out questions, not the seed: the seed moves the result
more than any setting measured (docs/EXPERIMENTS.md). Over seeds, the all-families gain over the base's direct answers
gets a t interval across the seeds' gains (each seed one draw of world, warm start and GRPO-GR), and each target of the
miniature a count of the seeds that meet it.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from grit.config import ConfigError
from grit.outputs import unknown_entries

SUMMARY = "summary.json"
# What --seeds writes into its out folder: a run per seed (each folder's own stages check their files), the tables.
OUTPUTS = ("seed-[0-9]*/**/*", "seeds.md", "seeds.json")
# Quickstart settings that differ from seed to seed or do not change what a run computes.
NOT_COMPARED = ("out", "seed", "seeds", "overwrite")
MOST_SEEDS = 1000
SEED_DIR = re.compile(r"seed-[0-9]+")


def parse_seeds(spec: str) -> list[int]:
    """Seeds from ``"0-4"``, ``"0,1,7"`` or a mix (``"0-2,9"``), in the order given, each once; at most
    :data:`MOST_SEEDS` of them, each below 2**32 (what the trainer's seed takes).

    >>> parse_seeds("0-2,9"), parse_seeds(" 3 ")
    ([0, 1, 2, 9], [3])
    """
    seeds: dict[int, None] = {}
    for part in spec.split(","):
        m = re.fullmatch(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?", part)
        first, last = (int(m.group(1)), int(m.group(2) or m.group(1))) if m else (0, -1)
        if m and last < first:
            raise ConfigError(f"seeds: {part.strip()!r} in {spec!r} runs backwards; write {last}-{first}")
        if not m:
            raise ConfigError(
                f"seeds: {part.strip()!r} in {spec!r} is not a seed or a range; write seeds as 0-4, 0,1,7 or 0-2,9"
            )
        if last >= 2**32:
            raise ConfigError(f"seeds: {last} in {spec!r} is too large; a seed runs from 0 to {2**32 - 1}")
        if last - first + 1 + len(seeds) > MOST_SEEDS:  # before the range is laid out
            raise ConfigError(
                f"seeds: {spec!r} holds more than {MOST_SEEDS} seeds (a run takes minutes); give fewer, e.g. 0-9"
            )
        seeds.update(dict.fromkeys(range(first, last + 1)))
    return list(seeds)


def seed_folder(out: Path, seed: int) -> Path:
    return out / f"seed-{seed}"


def flag_values(args: list[str] | tuple) -> dict[str, str | None]:
    """``--field value`` and ``--field=value`` command-line pairs as ``{"--field": "value"}`` (a flag without a
    value: None), so that the same fields given in another order or form compare equal.

    >>> flag_values(["--max_steps=50", "--threads", "1", "--bf16"])
    {'--max_steps': '50', '--threads': '1', '--bf16': None}
    """
    found: dict[str, str | None] = {}
    i = 0
    while i < len(args):
        flag, eq, value = str(args[i]).partition("=")
        if not eq and i + 1 < len(args) and not str(args[i + 1]).startswith("--"):
            value, i = str(args[i + 1]), i + 1
        found[flag] = value if (eq or value) else None
        i += 1
    return found


def settings_of(summary: dict, train_overrides: list[str] | None = None) -> dict[str, Any]:
    """What a run was asked to compute: its quickstart settings but those of :data:`NOT_COMPARED` (its base as an
    absolute path), and each grit train field given beside them (:func:`flag_values`; a run written before the
    summary recorded them counts as having none)."""
    record = {k: v for k, v in summary.get("quickstart", {}).items() if k not in NOT_COMPARED}
    if record.get("base"):
        record["base"] = str(Path(record["base"]).resolve())
    given = summary.get("train_overrides", []) if train_overrides is None else train_overrides
    return record | flag_values(given)


def differences(done: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """``field: was -> now`` for each setting in which a finished run differs from the one asked for.

    >>> differences({"warm_steps": 300, "n_eval": 400}, {"warm_steps": 150, "n_eval": 400})
    ['warm_steps: 300 -> 150']
    """
    return [
        f"{k}: {done.get(k)!r} -> {wanted.get(k)!r}"
        for k in sorted(set(done) | set(wanted))
        if done.get(k) != wanted.get(k)
    ]


def finished_run(folder: Path) -> dict | None:
    """The summary of the finished quickstart in ``folder``, or None when it holds none (a run stopped before its
    end writes no summary). A summary that cannot be read, or is not a quickstart's, is an error naming it: it is
    neither read as figures nor silently run over."""
    path = folder / SUMMARY
    if not path.exists():
        return None
    problem = None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        problem = f"not a readable quickstart summary ({e})"
    else:
        if not (isinstance(summary, dict) and isinstance(summary.get("table"), dict)):
            problem = "not a quickstart summary (no table)"
        elif not isinstance(summary["table"].get("all"), dict):
            problem = "not a quickstart summary (its table has no row for all families)"
        elif not all(isinstance(summary.get(k, {}), dict) for k in ("gain_over_base_direct", "quickstart", "targets")):
            problem = "not a quickstart summary (gain_over_base_direct, quickstart and targets must be mappings)"
    if problem:
        raise ConfigError(f"{path}: {problem}; move it away or choose another --out")
    return summary


def _gain(summary: dict, family: str) -> dict:
    gain = summary.get("gain_over_base_direct", {}).get(family)
    return gain if isinstance(gain, dict) else {}


def seed_row(seed: int, summary: dict) -> dict[str, Any]:
    """One seed's figures: accuracies over all families, the gains with their intervals, format, IoU, the targets
    met, the minutes and the commit the run was made from."""
    every = summary["table"]["all"]
    own = (summary.get("gain_over_warm_start") or {}).get("all")
    own = own if isinstance(own, dict) else {}
    targets = summary.get("targets", {})
    return {
        "seed": seed,
        "base_direct": every.get("base_direct_accuracy"),
        "warm_start": every.get("warm_grounded_accuracy"),
        "after_grpo": every.get("grit_grounded_accuracy"),
        "gain": _gain(summary, "all").get("gain"),
        "gain_ci95": _gain(summary, "all").get("ci95"),
        "family_gains": {
            f: _gain(summary, f).get("gain") for f in summary.get("gain_over_base_direct", {}) if f != "all"
        },
        "own_part": own.get("gain"),
        "format": every.get("grit_grounded_format"),
        "iou": every.get("grit_grounded_union_iou"),
        "targets": targets,
        "targets_met": sum(bool(v) for v in targets.values()),
        "minutes": _minutes(summary.get("seconds")),
        "commit": (summary.get("provenance") or {}).get("git_commit"),
    }


def _minutes(seconds) -> float | None:
    total = seconds.get("total") if isinstance(seconds, dict) else None
    return total / 60 if isinstance(total, (int, float)) else None


def t_quantile(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (a two-sided 95 % interval)."""
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def _count(values: list) -> int:
    return sum(v is not None for v in values)


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def across_seeds(summaries: dict[int, dict]) -> dict[str, Any]:
    """Each seed's row (:func:`seed_row`), their means, the all-families gain's 95 % t interval across the seeds
    (half-width; None for one seed), and for each target how many seeds meet it."""
    rows = [seed_row(seed, s) for seed, s in summaries.items()]
    gains = [r["gain"] for r in rows if r["gain"] is not None]
    half = None
    if len(gains) > 1:
        mean = sum(gains) / len(gains)
        sd = math.sqrt(sum((g - mean) ** 2 for g in gains) / (len(gains) - 1))
        half = t_quantile(len(gains) - 1) * sd / math.sqrt(len(gains))
    families = sorted({f for r in rows for f in r["family_gains"]})
    targets = list(dict.fromkeys(t for r in rows for t in r["targets"]))
    keys = ("base_direct", "warm_start", "after_grpo", "gain", "own_part", "format", "iou", "minutes")
    mean_row = {key: _mean([r[key] for r in rows]) for key in keys}
    mean_row["family_gains"] = {f: _mean([r["family_gains"].get(f) for r in rows]) for f in families}
    # How many seeds each mean is over, where some seeds lack the figure.
    counts = {key: _count([r[key] for r in rows]) for key in keys}
    counts |= {f"{f} gain": _count([r["family_gains"].get(f) for r in rows]) for f in families}
    mean_row["seeds_counted"] = {k: n for k, n in counts.items() if n < len(rows)}
    return {
        "seeds": [r["seed"] for r in rows],
        "rows": rows,
        "mean": mean_row,
        "gain_t_ci95": half,
        "families": families,
        "targets_met": {t: sum(bool(r["targets"].get(t)) for r in rows) for t in targets},
        "every_target_met": sum(bool(targets) and all(r["targets"].get(t) for t in targets) for r in rows),
    }


def _num(value: float | None, digits: int = 4, sign: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def seeds_markdown(result: dict[str, Any]) -> str:
    """The seeds' table, their means and each target's count, in Markdown."""
    families = result["families"]
    head = ["seed", "base direct", "warm start", "after GRPO-GR", "gain over direct (95 %)"]
    head += [f"{f} gain" for f in families] + [
        "GRPO-GR's own part",
        "format",
        "IoU",
        "targets met",
        "minutes",
        "commit",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    n_targets = len(result["targets_met"])
    for r in result["rows"]:
        gain = _num(r["gain"], sign=True) + (f" +- {r['gain_ci95']:.4f}" if r["gain_ci95"] is not None else "")
        cells = [str(r["seed"]), _num(r["base_direct"]), _num(r["warm_start"]), _num(r["after_grpo"]), gain]
        cells += [_num(r["family_gains"].get(f), 3, sign=True) for f in families]
        cells += [_num(r["own_part"], sign=True), _num(r["format"], 3), _num(r["iou"], 3)]
        cells += [f"{r['targets_met']} of {len(r['targets'])}", _num(r["minutes"], 1), (r["commit"] or "-")[:7]]
        lines.append("| " + " | ".join(cells) + " |")
    m, half = result["mean"], result["gain_t_ci95"]
    gain = _num(m["gain"], sign=True) + (f" +- {half:.4f} (t, across seeds)" if half is not None else "")
    cells = [f"mean of {len(result['rows'])}", _num(m["base_direct"]), _num(m["warm_start"]), _num(m["after_grpo"])]
    cells += [gain] + [_num(m["family_gains"].get(f), 3, sign=True) for f in families]
    cells += [_num(m["own_part"], sign=True), _num(m["format"], 3), _num(m["iou"], 3), "", _num(m["minutes"], 1), ""]
    lines.append("| " + " | ".join(cells) + " |")
    k = len(result["rows"])
    partial = m.get("seeds_counted") or {}
    if partial:
        lines += ["", "Means over fewer seeds, where the others lack the figure: "]
        lines[-1] += "; ".join(f"{key}: {n} of {k}" for key, n in partial.items()) + "."
    lines += ["", f"Every target met: {result['every_target_met']} of {k} seeds. Seeds meeting each target:"]
    lines += [f"- {target}: {met} of {k}" for target, met in result["targets_met"].items()]
    if n_targets == 0:
        lines.append("- (the runs recorded no targets)")
    return "\n".join(lines) + "\n"


def write_seeds(out: Path, result: dict[str, Any]) -> None:
    """``seeds.json`` and ``seeds.md`` in ``out``."""
    (out / "seeds.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / "seeds.md").write_text(seeds_markdown(result), encoding="utf-8")


def run_seeds(cfg, train_overrides: list[str] | tuple = (), log=print, on_run=None) -> dict[str, Any]:
    """The quickstart once per seed of ``cfg.seeds``, each into ``OUT/seed-N``, then :func:`across_seeds` of those
    seeds written to ``OUT/seeds.md`` and ``OUT/seeds.json`` (rewritten after each run, so a series stopped early
    keeps its table so far). A seed whose folder holds a finished run with the same settings is read, not run again:
    a series resumes where it stopped. A finished run with other settings, or an unfinished one, is run again only
    with ``overwrite``. Every seed's folder is checked before any run starts. ``on_run(seed, summary, folder)`` is
    called after each run made here."""
    from dataclasses import asdict, replace

    from grit.quickstart import run_quickstart

    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {out} is a file, not a folder; choose a folder for the seeds' runs")
    strangers = unknown_entries(out, OUTPUTS)
    if out.is_dir():  # a folder named like a seed's that is not seed-<number>
        strangers += sorted(
            e.name for e in out.iterdir() if e.name.startswith("seed-") and not SEED_DIR.fullmatch(e.name)
        )
    if strangers:
        raise ConfigError(
            f"--out: {out} holds files grit did not write ({', '.join(strangers[:10])}); --seeds writes seed-N "
            "folders and seeds.md / seeds.json there, so move those away or choose an empty or new folder"
        )
    seeds = parse_seeds(cfg.seeds)
    wanted = settings_of({"quickstart": asdict(cfg)}, list(train_overrides))
    summaries: dict[int, dict] = {}
    to_run: list[int] = []
    for seed in seeds:  # every folder checked before minutes of work
        folder = seed_folder(out, seed)  # a file or a link of that name is a stranger, refused above
        done = finished_run(folder)
        if done is not None:
            changed = differences(settings_of(done), wanted)
            recorded = done.get("quickstart", {}).get("seed")
            if recorded is not None and recorded != seed and not cfg.overwrite:  # copied into another seed's folder
                raise ConfigError(
                    f"{folder} holds seed {recorded}'s run (quickstart.seed in its {SUMMARY}), not seed {seed}'s; "
                    f"pass --overwrite to run seed {seed} there, or move that run away"
                )
            if not changed and recorded in (seed, None):
                summaries[seed] = done
                continue
            if not cfg.overwrite:
                raise ConfigError(
                    f"{folder} holds seed {seed}'s run with other settings ({'; '.join(changed)}); pass --overwrite "
                    "to run it again there, or choose another --out"
                )
        elif folder.exists() and any(folder.iterdir()) and not cfg.overwrite:
            raise ConfigError(
                f"{folder} holds an unfinished run of seed {seed} (no {SUMMARY}); pass --overwrite to run it again "
                "there, or choose another --out"
            )
        to_run.append(seed)
    for n, seed in enumerate(seeds, 1):
        folder = seed_folder(out, seed)
        if seed not in to_run:
            log(f"seed {seed} ({n} of {len(seeds)}): finished before with these settings; read from {folder}")
            continue
        log(f"seed {seed} ({n} of {len(seeds)}) into {folder}")
        summaries[seed] = run_quickstart(replace(cfg, seed=seed, out=str(folder), seeds=None), train_overrides, log)
        if on_run is not None:
            on_run(seed, summaries[seed], folder)
        write_seeds(out, across_seeds({s: summaries[s] for s in seeds if s in summaries}))
    result = across_seeds({s: summaries[s] for s in seeds})
    out.mkdir(parents=True, exist_ok=True)
    write_seeds(out, result)
    return result
