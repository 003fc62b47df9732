"""torch's CPU threads, sized to the cores the machine has free.

The tiny model's ops are small, and with more than one thread each op waits at a barrier for its slowest thread.
On an idle 2-core machine a second thread made a GRPO-GR step 1.5x faster; as soon as another process wanted a core
it made sampling 12x and forward+backward 2.3x slower (bench/bench_threads.py, side by side). So ``threads: 0``
(``auto``) takes the cores the other processes leave free, when a stage starts and, in training, again every few
steps (:class:`AdaptThreads`). Where the system says how busy its cores are (Linux's ``/proc/stat``), "the other
processes" are the CPU time all processes used less this process's own, over the last seconds: the 1-minute load
average lags, and read right after ``make install`` it had the quickstart start its stages on one thread of two.
Elsewhere the load average is the measure.
"""

from __future__ import annotations

import logging
import os
import time

from transformers import TrainerCallback

logger = logging.getLogger(__name__)

AUTO = 0
WINDOW = 0.5  # seconds: the shortest span the other processes' CPU use is measured over


def cpu_times() -> tuple[float, float, float] | None:
    """(now, CPU seconds all processes used, CPU seconds this process used), or None without ``/proc/stat``."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait: user nice system irq softirq steal
    own = os.times()
    return time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), own.user + own.system


_last: tuple[float, float, float] | None = None


def others_load(window: float = WINDOW) -> float | None:
    """Cores' worth of CPU the other processes used since the last call (or over ``window`` seconds, waited for
    here, when the last call is older than a minute or more recent than ``window``); None without ``/proc/stat``."""
    global _last
    then = _last
    if then is None or not window <= time.monotonic() - then[0] <= 60:
        then = cpu_times()
        if then is None:
            return None
        time.sleep(window)
    now = cpu_times()
    if now is None:
        return None
    _last = now
    return max(0.0, (now[1] - then[1]) - (now[2] - then[2])) / (now[0] - then[0])


def free_cores(own_threads: int = 0) -> int:
    """Cores the other processes leave free (at least 1). Measured from the CPU time they used (see the module
    doc); without that, the cores less the 1-minute load average, less the load this process's own
    ``own_threads`` busy threads add to it. A core counts as taken from a quarter of its load: the cost is lopsided
    (one thread too few: at most 1.5x slower; one too many on a busy core: 2-12x).

    >>> 1 <= free_cores() <= (os.cpu_count() or 1)
    True
    """
    cores = os.cpu_count() or 1
    others = others_load()
    if others is None:
        try:
            others = max(0.0, os.getloadavg()[0] - own_threads)
        except (AttributeError, OSError):  # no load average on this system: take the machine as ours
            return cores
    return max(1, min(cores, int(cores - others + 0.25)))


def set_threads(threads: int | None, busy: bool = False) -> None:
    """torch's CPU threads: ``None`` leaves torch's default (one per core), ``0`` the cores free now, N exactly N.
    ``busy``: this process has been computing for the last minute on its current threads, so they are part of the
    load average (used only where the other processes' CPU time cannot be measured)."""
    if threads is None:
        return
    import torch

    now = torch.get_num_threads()
    wanted = threads or free_cores(own_threads=now if busy else 0)
    if wanted != now:
        torch.set_num_threads(wanted)


class AdaptThreads(TrainerCallback):
    """With ``threads: 0``: every ``every`` steps, set torch's threads to the cores free then (measured over the
    steps since the last check)."""

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
