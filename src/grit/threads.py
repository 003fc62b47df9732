"""torch's CPU threads, sized to the cores the machine has free.

The tiny model's ops are small, and with more than one thread each op waits at a barrier for its slowest thread.
On an idle 2-core machine a second thread made a GRPO-GR step 1.5x faster; as soon as another process wanted a core
it made sampling 12x and forward+backward 2.3x slower (bench/bench_threads.py, side by side). So ``threads: 0``
(``auto``) takes the cores the 1-minute load average leaves free, when a stage starts and, in training, again every
few steps (:class:`AdaptThreads`).
"""

from __future__ import annotations

import logging
import os

from transformers import TrainerCallback

logger = logging.getLogger(__name__)

AUTO = 0


def free_cores(own_threads: int = 0) -> int:
    """Cores the other processes leave free (at least 1): the cores less the 1-minute load average, less the load
    this process's own ``own_threads`` busy threads add to it. A core counts as taken from a quarter of its load:
    a thread of ours that waits for a core drops out of the load average, so others' load reads low, and the cost
    is lopsided (one thread too few: at most 1.5x slower; one too many on a busy core: 2-12x).

    >>> 1 <= free_cores() <= (os.cpu_count() or 1)
    True
    """
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this system: take the machine as ours
        return cores
    others = max(0.0, load - own_threads)
    return max(1, min(cores, int(cores - others + 0.25)))


def set_threads(threads: int | None, busy: bool = False) -> None:
    """torch's CPU threads: ``None`` leaves torch's default (one per core), ``0`` the cores free now, N exactly N.
    ``busy``: this process has been computing for the last minute on its current threads, so they are part of the
    load average (else all of it counts as other processes', the safe side)."""
    if threads is None:
        return
    import torch

    now = torch.get_num_threads()
    wanted = threads or free_cores(own_threads=now if busy else 0)
    if wanted != now:
        torch.set_num_threads(wanted)


class AdaptThreads(TrainerCallback):
    """With ``threads: 0``: every ``every`` steps, set torch's threads to the cores free then (the load average is
    a minute's average, so a change shows within a minute)."""

    def __init__(self, every: int = 10):
        self.every = every

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step % self.every:
            return
        import torch

        now = torch.get_num_threads()
        wanted = free_cores(own_threads=now)
        if wanted != now:
            logger.info("torch threads %d -> %d (the cores other processes leave free)", now, wanted)
            torch.set_num_threads(wanted)
