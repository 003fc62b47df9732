"""The console: a one-line header per stage, one progress bar per stage (tqdm, on stderr, with an ETA and the few
figures that matter), and a closing line. Full logs go to files, never to the console.

A stage's phases (the two prompts of an evaluation, the chains and the SFT steps of the warm start) reuse the
stage's bar, reset to each phase, so a stage is one line while it runs. Functions that report progress take
``progress``: a :class:`Stage`, or None for a bar of their own (``grit eval``, library calls). ``TQDM_DISABLE=1``
turns every bar off.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

_silent = False  # no bars in this process: a worker whose parent shows its progress (silence_bars)


def silence_bars() -> None:
    """Draw no bar in this process from now on: for a worker process whose parent shows the progress of its work."""
    global _silent
    _silent = True


def bar(desc: str, total: int | None = None, unit: str = "it", leave: bool = True) -> tqdm:
    """A tqdm bar with grit's settings: redrawn about once a second on a terminal, every 30 s into a log file."""
    interactive = sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        leave=leave,
        dynamic_ncols=True,
        mininterval=1.0 if interactive else 30.0,
        disable=_silent,
    )


def figures(values: dict[str, Any]) -> dict[str, str]:
    """Bar postfix text: floats to 3 significant digits, None left out."""
    return {k: (f"{v:.3g}" if isinstance(v, float) else str(v)) for k, v in values.items() if v is not None}


class Stage:
    """One stage of a pipeline: ``[i/n] name: what`` on stdout, one bar its phases reuse, and a closing line."""

    def __init__(self, index: int, count: int, name: str, what: str = "", log=print):
        self.name, self.log_line, self.started = name, log, time.monotonic()
        log(f"[{index}/{count}] {name}" + (f": {what}" if what else ""))
        self.bar: tqdm | None = None  # made by the first phase, so a stage without one shows no empty bar

    def start(self, desc: str, total: int, unit: str) -> tqdm:
        label = f"{self.name} · {desc}" if desc else self.name
        if self.bar is None:
            self.bar = bar(label, total, unit, leave=False)
            return self.bar
        self.bar.unit = unit
        self.bar.set_description(label, refresh=False)
        self.bar.set_postfix({}, refresh=False)
        self.bar.reset(total=total)  # redraws the bar, now showing this phase
        return self.bar

    def log(self, text: str) -> None:
        """A line on stdout that leaves the bar intact."""
        if self.bar is not None:
            self.bar.clear()
        self.log_line(text)
        if self.bar is not None:
            self.bar.refresh()

    def done(self, result: str = "") -> float:
        """Close the bar and print ``name done in N s: result``; returns the seconds the stage took."""
        seconds = time.monotonic() - self.started
        if self.bar is not None:
            self.bar.close()
        self.log_line(f"      {self.name} done in {seconds:.0f} s" + (f": {result}" if result else ""))
        return seconds


class Stopped(Exception):
    """Raised in a worker process at its next progress update once its parent has asked it to stop."""


class Relay:
    """Stands in for a :class:`Stage` in a worker process whose parent shows the progress: every update of a phase's
    bar is put on ``queue`` as ``(tag, phase, n)``, for the parent to count; nothing is drawn or printed here. Once
    the parent sets ``stop`` (a multiprocessing event), the worker's next update raises :class:`Stopped`."""

    def __init__(self, queue, tag: Any, stop=None):
        self.queue, self.tag, self.stop = queue, tag, stop

    def start(self, desc: str, total: int, unit: str) -> _RelayBar:
        return _RelayBar(self, desc)

    def send(self, what: str, value: Any) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Stopped(f"{self.tag}: stopped by the parent process")
        self.queue.put((self.tag, what, value))

    def log(self, text: str) -> None:
        pass  # a worker's lines are the parent's to write, from what the work returns


class _RelayBar:
    def __init__(self, relay: Relay, desc: str):
        self.relay, self.desc = relay, desc

    def update(self, n: int = 1) -> None:
        self.relay.send(self.desc, n)

    def set_postfix(self, *args, **kwargs) -> None:
        pass


def start(progress: Stage | None, desc: str, total: int, unit: str = "it") -> tqdm:
    """The bar for one phase of work: the stage's bar reset to it, or a bar of its own without a stage."""
    return progress.start(desc, total, unit) if progress is not None else bar(desc, total, unit)


def finish(progress: Stage | None, phase_bar: tqdm) -> None:
    if progress is None:
        phase_bar.close()


@contextmanager
def phase(progress: Stage | None, desc: str, total: int, unit: str = "it") -> Iterator[tqdm]:
    phase_bar = start(progress, desc, total, unit)
    try:
        yield phase_bar
    finally:
        finish(progress, phase_bar)
