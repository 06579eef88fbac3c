"""The overall progress bar: its pace arithmetic by hand, and what a CI log and a terminal receive over time."""
from __future__ import annotations

import io
import re
import time

import pytest

from audit import progress
from audit.progress import Progress


class Clocked(io.StringIO):
    """A stream that remembers when each line arrived; ``tty`` says whether it claims to be a terminal."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty, self.stamps = tty, []

    def isatty(self) -> bool:
        return self.tty

    def write(self, s: str) -> int:
        self.stamps += [time.monotonic()] * s.count("\n")
        return super().write(s)


def test_fraction_and_eta_follow_the_pace_of_the_finished_stages() -> None:
    p = Progress(total=10.0, enabled=False)
    p.t0, p.done, p.stage_t0, p.name, p.weight = 100.0, 4.0, 108.0, "x", 2.0  # 4 units took 8 s: 2 s a unit
    assert p.fraction(109.0) == pytest.approx(4.5)  # 1 s into the stage is half a unit
    assert p.eta(109.0) == pytest.approx(9.0 * (10 - 4.5) / 4.5)  # seconds so far × units left / units done
    assert p.fraction(200.0) == pytest.approx(4.0 + 0.9 * 2.0)  # time alone never finishes a stage
    p.stage("y")
    assert (p.done, p.stages) == (6.0, 1)


def test_a_ci_log_gets_a_line_at_most_every_interval_and_never_waits_longer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "LOG_EVERY", 0.4)
    monkeypatch.setattr(progress, "TICK", 0.05)
    log = Clocked(tty=False)
    with Progress(total=3.0, stream=log) as bar:
        bar.stage("load")
        time.sleep(0.1)
        bar.stage("probe a")  # within the interval: no line of its own
        time.sleep(1.5)  # a long stage: heartbeat lines
        bar.stage("probe b")
        time.sleep(0.1)
    lines = log.getvalue().splitlines()
    assert log.stamps[0] - bar.t0 >= 0.4  # nothing in the first interval: a quick usage error stays alone
    assert lines[0].startswith("[audit]") and "probe a · 0:00 elapsed" in lines[0]
    assert any("probe a" in line for line in lines) and lines[-1].startswith("[audit] 100% · 3 stages done in")
    assert "\r" not in log.getvalue()  # plain lines, no carriage-return redraws in a log
    gaps = [b - a for a, b in zip([bar.t0, *log.stamps], log.stamps[:-1])]  # the closing line comes when it comes
    assert gaps and all(0.4 - 0.06 <= g <= 0.4 + 0.2 for g in gaps), gaps
    assert all(re.search(r"about \d+:\d\d left", line) for line in lines[1:-1])


def test_a_terminal_gets_one_line_per_stage_above_one_bar() -> None:
    term = Clocked(tty=True)
    with Progress(total=2.0, stream=term) as bar:
        bar.stage("load")
        bar.stage("writing the report")
    text = term.getvalue()
    assert "[audit] load …" in text and "[audit] writing the report …" in text
    assert "100%" in text and text.count("[audit]") == 2


def test_an_error_leaves_the_bar_where_it_was_and_prints_nothing_after() -> None:
    log = Clocked(tty=False)
    with pytest.raises(RuntimeError), Progress(total=2.0, stream=log) as bar:
        bar.stage("load")
        raise RuntimeError("boom")
    assert "100%" not in log.getvalue()
