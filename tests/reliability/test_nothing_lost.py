"""Nothing lost: a crash while writing leaves the previous file (never half of one), two audits cannot
write into one folder at once, and a run killed with ``kill -9`` resumes from its cache to the same result.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import audit.results

from reliability_helpers import REPO, CliRun, without_timing, write_config

PROBE = "robustness.perturbation"


def _run(cli: Callable[..., CliRun], model: Path, out: Path, *extra: str) -> CliRun:
    return cli("run", str(model), "--probe", PROBE, "--out", str(out), "--quiet", "--no-explain", "--no-cache", *extra)


class _FaultyOs:
    """``os`` for audit.results only, with some calls replaced (the rest of the process is untouched)."""

    def __init__(self, **overrides: Any) -> None:
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def _crash_at_rename(src: Any, dst: Any) -> None:
    raise OSError(5, "simulated crash at the rename")


def _disk_full_after_half(fd: int, *args: Any, **kwargs: Any) -> Any:
    """A file whose write puts half of the text on disk, then fails as a full disk does."""
    fh = os.fdopen(fd, *args, **kwargs)

    class HalfWriter:
        def __enter__(self) -> HalfWriter:
            return self

        def __exit__(self, *exc: object) -> None:
            fh.close()

        def write(self, text: str) -> int:
            fh.write(text[: len(text) // 2])
            fh.flush()
            raise OSError(28, "No space left on device")

        def __getattr__(self, name: str) -> Any:
            return getattr(fh, name)

    return HalfWriter()


def _leftovers(folder: Path) -> list[str]:
    """Temporary files of write_atomic (".results.json.XXXX") left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name not in (".audit.lock", ".audit-set"))  # the lock and the set's manifest are ours


@pytest.mark.parametrize("fault", ["crash_at_rename", "disk_full_mid_write", "serialiser_fails"])
def test_a_failed_write_keeps_the_previous_results_and_report(fault: str, models: dict[str, Path], tmp_path: Path,
                                                              cli: Callable[..., CliRun],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    assert _run(cli, models["classifier"], out).code in (0, 1, 4)
    before = {name: (out / name).read_bytes() for name in ("results.json", "report.html")}
    if fault == "crash_at_rename":
        monkeypatch.setattr(audit.results, "os", _FaultyOs(replace=_crash_at_rename))
    elif fault == "disk_full_mid_write":
        monkeypatch.setattr(audit.results, "os", _FaultyOs(fdopen=_disk_full_after_half))
    else:
        def broken_serialiser(*args: Any, **kwargs: Any) -> str:
            raise ValueError("simulated serialiser failure")

        monkeypatch.setattr(audit.results.json, "dumps", broken_serialiser)
    again = _run(cli, models["classifier"], out, "--seed", "7")  # different content, had it been written
    assert again.code != 0 and len(again.error_lines) == 1 and "Traceback" not in again.stderr
    for name, data in before.items():
        assert (out / name).read_bytes() == data, f"{name} changed after a failed write"
    assert _leftovers(out) == []
    monkeypatch.undo()
    json.loads((out / "results.json").read_text())  # still whole


def test_audit_report_never_leaves_half_a_report(models: dict[str, Path], real_results: Path, tmp_path: Path,
                                                 cli: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    assert cli("report", str(real_results), "-o", str(target)).code == 0
    before = target.read_bytes()
    monkeypatch.setattr(audit.results, "os", _FaultyOs(fdopen=_disk_full_after_half))
    r = cli("report", str(real_results), "-o", str(target))
    assert r.code != 0 and len(r.error_lines) == 1
    assert target.read_bytes() == before and _leftovers(tmp_path) == []
    monkeypatch.undo()
    fresh = tmp_path / "fresh.html"
    monkeypatch.setattr(audit.results, "os", _FaultyOs(replace=_crash_at_rename))
    assert cli("report", str(real_results), "-o", str(fresh)).code != 0
    assert not fresh.exists() and _leftovers(tmp_path) == []


@contextlib.contextmanager
def _held_lock(out: Path) -> Iterator[None]:
    """Hold OUT/.audit.lock as a concurrent audit would (flock is per open file, so this conflicts even
    within one process)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".audit.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


def test_a_second_audit_into_the_same_folder_is_refused(models: dict[str, Path], tmp_path: Path,
                                                        cli: Callable[..., CliRun]) -> None:
    out = tmp_path / "out"
    assert _run(cli, models["classifier"], out).code in (0, 1, 4)
    before = (out / "results.json").read_bytes()
    with _held_lock(out):
        refused = _run(cli, models["classifier"], out, "--seed", "7")
    assert refused.code == 2 and len(refused.error_lines) == 1 and "another audit is writing" in refused.stderr
    assert (out / "results.json").read_bytes() == before
    assert _run(cli, models["classifier"], out, "--seed", "7").code in (0, 1, 4)  # free again once released
    assert (out / "results.json").read_bytes() != before


def test_a_locked_folder_is_refused_before_the_run(models: dict[str, Path], tmp_path: Path,
                                                   cli: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    import audit.runner

    calls: list[str] = []
    real = audit.runner.run
    monkeypatch.setattr(audit.runner, "run", lambda *a, **k: calls.append("run") or real(*a, **k))
    out = tmp_path / "out"
    with _held_lock(out):
        refused = _run(cli, models["classifier"], out)
    assert refused.code == 2 and calls == []


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """A folder nobody can write into: chmod for ordinary users; root ignores modes, so chattr +i then."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root without chattr: cannot make a read-only folder")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_read_only_out_is_a_user_error(models: dict[str, Path], tmp_path: Path, cli: Callable[..., CliRun]) -> None:
    out = tmp_path / "locked-down"
    with _read_only(out):
        r = _run(cli, models["classifier"], out)
        assert sorted(out.iterdir()) == []
    assert r.code == 2 and len(r.error_lines) == 1 and str(out) in r.stderr


# ------------------------------------------------------------------------------------------- kill -9
N_TEXTS = 200


def _rows(cache: Path) -> int:
    db = cache / "outputs.sqlite"
    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=1)) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM outputs").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_cache_to_the_same_result(models: dict[str, Path], tmp_path: Path,
                                                                cli: Callable[..., CliRun]) -> None:
    """kill -9 mid-run, then re-run: the re-run reads what the killed one committed and ends with the
    results of an uninterrupted run. --batch-size 1 makes every output independent of how the work was
    split into batches, so "the same" can mean bit-identical."""
    texts = [f"Review {i}: the {w} was {a} and the staff were {b}." for i, (w, a, b) in enumerate(
        (w, a, b) for w in ("room", "food", "film", "phone", "train") for a in ("great", "cold", "slow", "fine")
        for b in ("kind", "rude", "busy", "calm", "late"))][:100]
    texts = [f"{t} Note {k}." for k in range(N_TEXTS // len(texts)) for t in texts]
    cfg = write_config(tmp_path, f"model: {json.dumps(str(models['classifier']))}\nprobes:\n  {PROBE}:\n"
                                 f"    texts: {json.dumps(texts)}\nexplain: false\nbatch_size: 1\n")
    cache = tmp_path / "cache"
    base = ["run", "--config", str(cfg), "--quiet"]
    argv = [*base, "--out", str(tmp_path / "killed"), "--cache-dir", str(cache)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-m", "audit", *argv], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, cwd=REPO)
    total = 5 * N_TEXTS  # the texts and four edits of each
    deadline = time.monotonic() + 150
    try:
        while _rows(cache) < total // 10:
            assert child.poll() is None, f"the run ended before it could be killed: {child.stderr.read()!r}"
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(30)
    committed = _rows(cache)
    assert 0 < committed < total, committed
    assert not (tmp_path / "killed" / "results.json").exists()

    resumed = cli(*base, "--out", str(tmp_path / "resumed"), "--cache-dir", str(cache))
    assert resumed.code in (0, 1, 4), resumed.stderr
    whole = cli(*base, "--out", str(tmp_path / "whole"), "--no-cache")
    assert whole.code in (0, 1, 4), whole.stderr
    a = json.loads((tmp_path / "resumed" / "results.json").read_text())
    b = json.loads((tmp_path / "whole" / "results.json").read_text())
    assert a["throughput"]["cache_hits"] >= committed  # it did resume
    assert a["throughput"]["sequences"] <= total - committed
    assert without_timing(a) == without_timing(b)
