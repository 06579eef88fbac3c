"""One overall progress bar for an audit, and a log line per stage, so neither a person nor a CI log waits in
silence.

In a terminal: a tqdm bar over the stages (load, each probe, explanations, report writing) with the elapsed
time and an ETA, plus one line per stage printed above it. Stages have weights in "units" (a probe is one;
the explanations one per explained case: on the default audit an explained case costs about what a probe
does). Within a stage the bar creeps on at the pace measured so far (seconds per unit of the finished
stages), never past 90% of the stage, so it never sits still and the ETA is this run's own pace.

Off a terminal (a CI log, a pipe): plain lines only, at most one every ``LOG_EVERY`` seconds and never
more than about ``LOG_EVERY`` seconds apart while work goes on; none in the first ``LOG_EVERY`` seconds, so a
usage error found early is still the only line on stderr.
"""
from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

from tqdm.auto import tqdm

LOG_EVERY = 10.0
"""Seconds between progress lines in a non-interactive log."""
TICK = 0.5
"""Seconds between refreshes of the bar (and checks for a due log line)."""
FIRST_GUESS = 5.0
"""Seconds a stage is assumed to take before any stage has finished."""
CREEP_CAP = 0.9
"""Share of a stage the bar may advance by time alone, before the stage reports done."""


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """Stages of one audit. ``stage(name, weight)`` starts one (finishing the previous); ``add(units)`` extends
    the plan."""

    def __init__(self, total: float = 1.0, *, stream: TextIO | None = None, interactive: bool | None = None,
                 enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.enabled = enabled
        self.total = total
        self.done = 0.0
        self.stages = 0
        self.weight = 0.0
        self.name = ""
        self.t0 = time.monotonic()
        self.stage_t0 = self.t0
        self.last_line = self.t0  # the first log line after LOG_EVERY seconds: a quick error stays the only line
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._bar: tqdm | None = None
        self._thread: threading.Thread | None = None
        if not enabled:
            return
        if self.interactive:
            self._bar = tqdm(total=total, file=self.stream, unit="unit", dynamic_ncols=True, leave=True,
                             bar_format="{l_bar}{bar}| {elapsed}<{remaining}", mininterval=TICK, smoothing=0)
        self._thread = threading.Thread(target=self._tick, name="audit-progress", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------------------------------------
    def add(self, units: float) -> None:
        """More work than planned (the probes are known only once the model is loaded)."""
        with self._lock:
            self.total += units
            if self._bar is not None:
                self._bar.total = self.total
                self._bar.refresh()

    def stage(self, name: str, weight: float = 1.0) -> None:
        """Finish the current stage (if any) and start ``name``: one line in the log, the bar's label."""
        with self._lock:
            now = time.monotonic()
            self._finish()
            self.name, self.stage_t0, self.weight = name, now, weight
            if not self.enabled:
                return
            if self._bar is not None:
                self._bar.write(f"[audit] {name} …", file=self.stream)
                self._bar.set_description_str(_short(name), refresh=False)
                self._bar.n = min(self.done, self.total)
                self._bar.refresh()
            elif now - self.last_line >= LOG_EVERY:
                self._line(now)

    def close(self, ok: bool = True) -> None:
        """The last stage is done: the bar at 100%, one closing line. After an error (``ok`` false) the bar
        stops where it was and nothing more is printed, so the error is the last line."""
        with self._lock:
            if ok:
                self._finish()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self.enabled:
            return
        if not ok:
            if self._bar is not None:
                self._bar.close()
            return
        elapsed = time.monotonic() - self.t0
        if self._bar is not None:
            self._bar.n = self.total
            self._bar.set_description_str("done", refresh=False)
            self._bar.close()
        else:
            print(f"[audit] 100% · {self.stages} stages done in {_clock(elapsed)}", file=self.stream, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close(ok=kind is None)

    # ------------------------------------------------------------------------------------------------
    def _finish(self) -> None:
        if self.name:
            self.done += self.weight
            self.stages += 1
            self.name = ""

    def fraction(self, now: float) -> float:
        """Units done, plus the running stage's share by time at this run's measured pace (capped)."""
        per_unit = (self.stage_t0 - self.t0) / self.done if self.done else FIRST_GUESS
        creep = min(CREEP_CAP * self.weight, (now - self.stage_t0) / max(per_unit, 1e-3)) if self.name else 0.0
        return min(self.done + creep, self.total)

    def eta(self, now: float) -> float | None:
        """Seconds left at the pace so far (None before there is a pace to go by)."""
        f = self.fraction(now)
        return (now - self.t0) * (self.total - f) / f if f > 0 else None

    def _line(self, now: float) -> None:
        eta = self.eta(now)
        left = f" · about {_clock(eta)} left" if eta is not None else ""
        share = self.fraction(now) / self.total if self.total else 0.0
        print(f"[audit] {share:4.0%} · {_short(self.name)} · "
              f"{_clock(now - self.t0)} elapsed{left}", file=self.stream, flush=True)
        self.last_line = now

    def _tick(self) -> None:
        while not self._stop.wait(TICK):
            with self._lock:
                now = time.monotonic()
                if self._bar is not None:
                    self._bar.n = round(self.fraction(now), 2)
                    self._bar.refresh()
                elif now - self.last_line >= LOG_EVERY:
                    self._line(now)


def _short(name: str, width: int = 40) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
