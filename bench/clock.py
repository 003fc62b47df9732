"""Time split by label for the benchmarks: nested timed regions, each label's time exclusive of the regions timed
inside it, so the labels add up to the whole. Wall time, and the process's CPU time beside it: on a shared machine
wall time depends on the other jobs, while with one torch thread CPU time is the work done (measure with
``--threads 1`` for figures that are steady under load)."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager


class Clock:
    """Exclusive wall time per label: a timed region's time leaves out the timed regions nested in it.

    >>> clock = Clock()
    >>> with clock("outer"):
    ...     with clock("inner"):
    ...         pass
    >>> sorted(clock.totals)
    ['inner', 'outer']
    """

    def __init__(self):
        self.totals: dict[str, float] = defaultdict(float)  # wall seconds
        self.cpu: dict[str, float] = defaultdict(float)  # CPU seconds of the process
        self.stack: list[list] = []

    def start(self, label: str) -> None:
        self.stack.append([label, time.perf_counter(), time.process_time(), 0.0, 0.0])

    def stop(self) -> None:
        label, start, start_cpu, inner, inner_cpu = self.stack.pop()
        elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        self.totals[label] += elapsed - inner
        self.cpu[label] += elapsed_cpu - inner_cpu
        if self.stack:
            self.stack[-1][3] += elapsed
            self.stack[-1][4] += elapsed_cpu

    @contextmanager
    def __call__(self, label: str):
        self.start(label)
        try:
            yield
        finally:
            self.stop()

    def hook(self, module, label: str) -> None:
        """Time a torch module's forward calls (forward pre- and post-hooks)."""
        module.register_forward_pre_hook(lambda *args: self.start(label))
        module.register_forward_hook(lambda *args: self.stop())

    def wrap(self, obj, name: str, label: str) -> None:
        """Time ``obj.name`` under ``label`` (set as an instance or module attribute, for a benchmark only)."""
        func = getattr(obj, name)

        def timed(*args, **kwargs):
            with self(label):
                return func(*args, **kwargs)

        timed.__name__ = getattr(func, "__name__", name)
        setattr(obj, name, timed)

    def mark(self) -> tuple[float, float, dict[str, float], dict[str, float]]:
        """Now (wall, CPU) and every label's totals so far, for :meth:`since`."""
        return time.perf_counter(), time.process_time(), dict(self.totals), dict(self.cpu)

    def since(self, mark) -> tuple[float, float, dict[str, float], dict[str, float]]:
        """Wall and CPU seconds since ``mark``, and each label's share of them."""
        wall, cpu, totals, cpu_totals = mark
        return (
            time.perf_counter() - wall,
            time.process_time() - cpu,
            {k: v - totals.get(k, 0.0) for k, v in self.totals.items()},
            {k: v - cpu_totals.get(k, 0.0) for k, v in self.cpu.items()},
        )
