"""The quickstart's warm start: its sets of the base's own chains, the warm starts on them and the mean of their
weights (:mod:`grit.warmstart` does the work of each), made in turn in one process or, where the quickstart has more
than one thread, side by side, a process each on one thread, with the parent's bar showing their progress."""

from __future__ import annotations

import multiprocessing
import queue
from concurrent.futures import ProcessPoolExecutor, wait
from pathlib import Path

from grit.config import ConfigError
from grit.data.images import load_image
from grit.models.loading import load_policy
from grit.progress import Relay, Stage, Stopped, silence_bars
from grit.quickstart import FALLBACKS, QuickstartConfig
from grit.threads import set_threads


def _warm_chains(policy, unlabeled: list, cfg: QuickstartConfig, index: int, stage: Stage | None) -> list:
    """The base's own chains for ``unlabeled`` questions (:func:`grit.warmstart.self_chains`), seed ``cfg.seed +
    index``."""
    from grit.warmstart import self_chains

    return self_chains(
        policy,
        [load_image(s.image_path) for s in unlabeled],
        [s.question for s in unlabeled],
        layout=cfg.warm_layout,
        progress=stage,
        agree=cfg.warm_agree,
        sure=cfg.warm_agree_sure,
        retries=cfg.warm_retries,
        seed=cfg.seed + index,
        fallback=FALLBACKS[cfg.warm_fallback],
        correct=cfg.warm_correct,
        boxes_from=cfg.warm_boxes,
        consistent=cfg.warm_consistent,
    )


_events = _stop = None  # in a warm-start worker process: where its progress goes, and its parent's stop (_worker_init)


def _kept(chains: list) -> tuple[int, int]:
    """How many chains a set kept, and how many of them correct their first look (``warm_correct``)."""
    return len(chains), sum(c.corrected for c in chains)


def _worker_init(events, stop) -> None:
    """A warm-start worker process: offline, quiet, no bars of its own, one thread (see :func:`warm_starts`)."""
    from grit.cli.common import offline_defaults, quiet_transformers

    global _events, _stop
    _events, _stop = events, stop
    offline_defaults()
    quiet_transformers()
    silence_bars()  # the parent's bar counts the sets built and the SFT steps taken
    set_threads(1)


def _chain_set_job(base: str, cfg: QuickstartConfig, index: int, unlabeled: list) -> tuple:
    """Set ``index`` of the base's own chains in a worker process (warm starts on the pooled sets): how many it
    kept and corrected, and the chains."""
    chains = _relayed_chains(load_policy(base), Relay(_events, index, _stop), unlabeled, cfg, index)
    return _kept(chains), chains


def _relayed_chains(policy, relay: Relay, unlabeled: list, cfg: QuickstartConfig, index: int) -> list:
    """Set ``index`` of the base's own chains, built in a worker process, its size relayed to the parent (which
    stops every worker and says why when a set keeps none)."""
    chains = _warm_chains(policy, unlabeled, cfg, index, None)
    relay.send("kept", len(chains))
    return chains


def _warm_start_job(base: str, cfg: QuickstartConfig, index: int, unlabeled: list, chains: list | None) -> tuple:
    """Warm start ``index`` in a worker process: its chains (unless given), its SFT steps from the base. Returns
    how many chains it kept and corrected, its losses and its weights (floating point ones only)."""
    from grit.warmstart import warm_start

    policy = load_policy(base)
    relay = Relay(_events, index, _stop)
    if chains is None:
        chains = _relayed_chains(policy, relay, unlabeled, cfg, index)
    kept = _kept(chains)
    if not chains:
        return kept, [], {}
    seed = cfg.seed + index
    losses = warm_start(policy, chains, steps=cfg.warm_steps, lr=cfg.warm_lr, seed=seed, log=relay.log, progress=relay)
    return kept, losses, {k: v for k, v in policy.model.state_dict().items() if v.is_floating_point()}


def _pooled(chain_sets: list[list]) -> list:
    """Every set's chains together, set after set (each warm start draws its own order from them)."""
    return [chain for chains in chain_sets for chain in chains]


def warm_starts(
    policy, base: Path, parts: list[list], cfg: QuickstartConfig, stage: Stage, apart: bool | None = None
) -> None:
    """The warm start: ``policy`` (the base) set to the mean of ``cfg.warm_soup`` warm starts' weights, each on its
    own part of the unlabeled questions' chains, on every part's chains together (``warm_soup_data`` pooled), or
    all on the one part's; logs how many chains each set kept.

    Generation barely uses a second thread (the chains of 500 questions: 32.7 s on one thread, 29.8 s on two) and an
    SFT step gains 1.44x from it, so where this process has more than one thread and there is more than one warm
    start, each warm start (its chains, then its SFT steps) runs in a process of its own on one thread, side by side
    (bench/bench_warm_starts.py); pooled, the processes build every set first, then train. One thread gives the
    digits of two, so the weights are those of one process making the warm starts in turn (tested). ``apart``: side
    by side or in turn, whatever the threads (for the bench)."""
    import torch

    from grit.warmstart import soup_weights, souped_warm_start

    n, data = cfg.warm_soup, cfg.warm_soup_data
    if apart is None:
        apart = n > 1 and torch.get_num_threads() > 1
    if not apart:
        chain_sets = [_warm_chains(policy, part, cfg, i, stage) for i, part in enumerate(parts)]
        for part, chains in zip(parts, chain_sets):
            _log_kept(*_kept(chains), len(part), cfg, stage)
        if data == "shared":  # every warm start on the same chains, in its own order
            chain_sets *= n
        elif data == "pooled":
            chain_sets = [_pooled(chain_sets)] * n
        souped_warm_start(
            policy, chain_sets, steps=cfg.warm_steps, lr=cfg.warm_lr, seed=cfg.seed, log=stage.log, progress=stage
        )
        return
    given = None
    if data == "shared":
        given = _warm_chains(policy, parts[0], cfg, 0, stage)
        _log_kept(*_kept(given), len(parts[0]), cfg, stage)
    workers = min(n, 2 * torch.get_num_threads())  # the quickstart: 3 on 2 cores; more warm starts wait their turn
    context = multiprocessing.get_context("spawn")  # a forked torch can hang on its thread pool
    events, stop = context.Queue(), context.Event()
    watch = stop if cfg.warm_agree or cfg.warm_consistent else None
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init, initargs=(events, stop)) as pool:
        if data == "pooled":  # every set first, side by side; then the warm starts on all of them
            jobs = [pool.submit(_chain_set_job, str(base), cfg, i, part) for i, part in enumerate(parts)]
            _show_progress(jobs, events, workers, stage, len(jobs), 0, watch)
            _log_sets(jobs, parts, cfg, stage, stop)
            given = _pooled([job.result()[1] for job in jobs])
        own = data == "own"
        jobs = [pool.submit(_warm_start_job, str(base), cfg, i, parts[i] if own else None, given) for i in range(n)]
        _show_progress(jobs, events, workers, stage, n if own else 0, n * cfg.warm_steps, watch)
        if own:
            _log_sets(jobs, parts, cfg, stage, stop)
    results = [job.result() for job in jobs]  # a worker's own error, if any
    for i, (kept, losses, _) in enumerate(results):
        stage.log(f"warm start {i + 1} of {n} (seed {cfg.seed + i}, {kept[0]} chains)")
        stage.log(f"warm start: {cfg.warm_steps} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    souped = soup_weights(policy.model.state_dict(), (weights for _, _, weights in results))
    policy.model.load_state_dict(souped)
    stage.log(f"warm start: the mean of {n} warm starts' weights")


def _log_sets(jobs: list, parts: list[list], cfg: QuickstartConfig, stage: Stage, stop) -> None:
    """Logs how many chains each set built in a worker kept (the first thing each job returns), and raises for one
    that kept none (its worker set ``stop``; the others stop at their next SFT step: waited for here, where the error
    is said)."""
    if stop.is_set():
        wait(jobs)
    for part, job in zip(parts, jobs):
        if not isinstance(job.exception(), Stopped):
            _log_kept(*job.result()[0], len(part), cfg, stage)


def _show_progress(jobs: list, events, workers: int, stage: Stage, sets: int, steps: int, stop=None) -> None:
    """The stage's bar while the ``workers`` processes run the ``jobs``: the ``sets`` chain sets they build, then the
    ``steps`` SFT steps they take (all jobs'), from the ``(index, phase, n)`` updates their
    :class:`grit.progress.Relay` sends; returns when every job is done, as soon as one has failed, or, with ``stop``,
    as soon as a set kept no chain (``stop`` set)."""
    built = taken = 0

    def steps_bar():
        return stage.start(f"SFT, {workers} processes side by side", steps, "step") if steps else None

    bar = stage.start(f"own chains, {workers} processes side by side", sets, "set") if sets else steps_bar()
    while True:
        try:
            _, what, n = events.get(timeout=0.5)
        except queue.Empty:
            if all(job.done() for job in jobs) or any(job.done() and job.exception() for job in jobs):
                return  # done, or failed: the caller's job.result() raises the worker's error
            continue
        if what == "kept":
            if not n and stop is not None:
                stop.set()
                return
            built += 1
            bar.update()
            if built == sets:  # every set built: the bar now counts the SFT steps
                bar = steps_bar()
                if bar is not None:
                    bar.update(taken)
        elif what == "SFT":
            taken += n
            if built == sets:
                bar.update(n)


def _log_kept(kept: int, corrected: int, asked: int, cfg: QuickstartConfig, stage: Stage) -> None:
    if not (cfg.warm_agree or cfg.warm_consistent):
        return
    unsure = f" or the direct one is under {cfg.warm_agree_sure:g} sure" if cfg.warm_agree_sure else ""
    checks = (["says what their own boxes show"] if cfg.warm_consistent else []) + (
        ["agrees with the base's direct answer"] if cfg.warm_agree else []
    )
    if not kept:
        flags = " or ".join(f"--{f} false" for f in ("warm_consistent", "warm_agree") if getattr(cfg, f))
        raise ConfigError(
            f"warm start: none of the {asked} chains' read-off answers {' and '.join(checks)} "
            f"({cfg.base or 'the shipped base'} may not be a base trained to answer from boxes); pass {flags} or "
            "another --base"
        )
    if cfg.warm_agree:
        checks[-1] = f"agrees with the direct one{unsure}"
    drawn = f" (boxes drawn up to {cfg.warm_retries} more times)" if cfg.warm_agree and cfg.warm_retries else ""
    drawn += f"; {corrected} keep their first look in the think, corrected in the rethink" if cfg.warm_correct else ""
    stage.log(f"{kept} of {asked} chains kept: their read-off answer {' and '.join(checks)}" + drawn)
