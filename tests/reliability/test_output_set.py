"""A run owns its output folder, streams, signals and cache (issue 18 item 5, issue 19): what the one-line
catalogue cannot express — the previous set surviving a full disk, SIGTERM, a closed pipe, an ASCII-only
terminal, a cache that cannot be used, targets that are not regular files.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import audit.outdir
import audit.results

from reliability_helpers import REPO, CliRun, audit_subprocess, without_timing, write_config

PROBE = "robustness.perturbation"


def _run(cli: Callable[..., CliRun], model: Path, out: Path, *extra: str) -> CliRun:
    return cli("run", str(model), "--probe", PROBE, "--out", str(out), "--quiet", "--no-explain", "--no-cache", *extra)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _no_staging(parent: Path) -> None:
    assert [p.name for p in parent.iterdir() if p.name.startswith(".")] == [], "a staging folder was left behind"


# ------------------------------------------------------------------------------------ the output folder
def test_a_run_replaces_the_whole_set_and_leaves_no_lock(models: dict[str, Path], tmp_path: Path, cli: Callable[..., CliRun]) -> None:
    out = tmp_path / "out"
    assert _run(cli, models["classifier"], out, "--junit", str(out / "junit.xml"), "--summary", str(out / "ci" / "summary.md")).code in (0, 1, 4)
    first = _files(out)
    assert {"results.json", "report.html", "report.md", "junit.xml", "ci/summary.md"} <= set(first)
    assert not (out / ".audit.lock").exists()
    (out / "data" / "stale.csv").write_text("from a run long ago\n")
    (tmp_path / ".out.new-killed").mkdir()  # the staging folder of a run killed with kill -9
    (tmp_path / ".out.new-killed" / "results.json").write_text("{}")
    assert _run(cli, models["classifier"], out, "--seed", "3").code in (0, 1, 4)
    second = _files(out)
    # no --junit/--summary this time, and nothing this run did not write: the old junit, summary and csv are gone
    assert set(second) == {k for k in first if k not in ("junit.xml", "ci/summary.md")}
    assert json.loads(second["results.json"])["environment"]["seed"] == 3
    assert not (out / ".audit.lock").exists()
    _no_staging(tmp_path)


def _full_disk_on(n: int) -> Callable[..., Any]:
    """os.fdopen for audit.results whose ``n``-th file (1-based) fails as a full disk does."""
    calls = {"n": 0}

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == n:
            os.close(fd)
            raise OSError(28, "No space left on device")
        return os.fdopen(fd, *args, **kwargs)

    return fdopen


class _Os:
    def __init__(self, **overrides: Any) -> None:
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


@pytest.mark.parametrize("previous, nth", [(True, 1), (True, 3), (False, 2)])
def test_a_full_disk_leaves_the_previous_set_or_nothing(previous: bool, nth: int, models: dict[str, Path], tmp_path: Path,
                                                        cli: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills at the first file (results.json) or a later one (a data file, a report): the folder
    then holds the previous set byte for byte, or nothing at all — never results.json without its reports."""
    out = tmp_path / "out"
    if previous:
        assert _run(cli, models["classifier"], out).code in (0, 1, 4)
    before = _files(out) if previous else None
    monkeypatch.setattr(audit.results, "os", _Os(fdopen=_full_disk_on(nth)))
    r = _run(cli, models["classifier"], out, "--seed", "5")
    monkeypatch.undo()
    assert r.code == 2 and len(r.error_lines) == 1 and "No space left on device" in r.stderr, r.stderr
    assert (_files(out) if out.exists() else None) == before
    _no_staging(tmp_path)


def test_too_little_free_space_is_refused_before_the_run(models: dict[str, Path], tmp_path: Path, cli: Callable[..., CliRun],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    import audit.runner

    calls: list[str] = []
    monkeypatch.setattr(audit.runner, "run", lambda *a, **k: calls.append("run"))
    monkeypatch.setattr(audit.outdir.shutil, "disk_usage", lambda p: types.SimpleNamespace(free=1 << 20))
    r = _run(cli, models["classifier"], tmp_path / "out")
    assert r.code == 2 and "only 1.0 MiB free" in r.stderr and calls == [] and not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", ["--junit", "--summary"])
def test_extra_outputs_are_checked_before_the_model_runs(flag: str, models: dict[str, Path], tmp_path: Path,
                                                         cli: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    import audit.runner

    calls: list[str] = []
    monkeypatch.setattr(audit.runner, "run", lambda *a, **k: calls.append("run"))
    (tmp_path / "taken").write_text("a file\n")
    r = _run(cli, models["classifier"], tmp_path / "out", flag, str(tmp_path / "taken" / "x.xml"))
    assert r.code == 2 and calls == [] and flag in r.stderr


@pytest.mark.slow
def test_sigterm_cleans_up_like_ctrl_c(models: dict[str, Path], tmp_path: Path) -> None:
    """SIGTERM mid-run (a cancelled CI job): exit 143, the previous set intact, no lock, no staging folder."""
    out = tmp_path / "out"
    texts = [f"Sentence number {i} about the {w} weather." for i in range(400) for w in ("fine",)]
    cfg = write_config(tmp_path, f"model: {json.dumps(str(models['classifier']))}\nprobes:\n  {PROBE}:\n"
                                 f"    texts: {json.dumps(texts)}\nexplain: false\nbatch_size: 1\n")
    assert audit_subprocess("run", "--config", cfg, "--out", out, "--quiet", "--no-cache", "--max-cases", "5").code in (0, 1, 4)
    before = _files(out)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    child = subprocess.Popen([sys.executable, "-m", "audit", "run", "--config", str(cfg), "--out", str(out), "--no-cache", "--seed", "9"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
    deadline = time.monotonic() + 120
    try:
        while not list(tmp_path.glob(".out.new-*")):  # the run holds the lock and its staging folder
            assert child.poll() is None and time.monotonic() < deadline, "the run ended before it could be terminated"
            time.sleep(0.02)
        time.sleep(1.0)  # into model loading or the probe
        assert child.poll() is None, "the run ended before it could be terminated"
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 143, err
    assert "terminated" in err and "Traceback" not in err
    assert _files(out) == before and not (out / ".audit.lock").exists()
    _no_staging(tmp_path)


# ------------------------------------------------------------------------------------ targets and streams
def test_a_symlink_to_a_file_is_followed_and_kept(models: dict[str, Path], tmp_path: Path, cli: Callable[..., CliRun]) -> None:
    real = tmp_path / "real-summary.md"
    real.write_text("old\n")
    link = tmp_path / "summary.md"
    link.symlink_to(real)
    assert _run(cli, models["classifier"], tmp_path / "out", "--summary", str(link)).code in (0, 1, 4)
    assert link.is_symlink() and real.read_text().startswith("## transformer-audit")


def test_outputs_never_replace_a_device_or_a_link_to_stdout(tmp_path: Path) -> None:
    """`audit init /dev/full --force` leaves the device node; --summary at a link to /proc/self/fd/1 streams
    the summary to stdout and leaves the link."""
    r = audit_subprocess("init", "/dev/full", "--force")
    assert r.code == 2 and len(r.error_lines) == 1 and Path("/dev/full").is_char_device()
    link = tmp_path / "to-stdout.md"
    link.symlink_to("/proc/self/fd/1")
    r = audit_subprocess("init", str(link), "--force")
    assert r.code == 0 and r.stdout.startswith("# transformer-audit config") and link.is_symlink()


def test_a_closed_pipe_is_quiet_and_a_full_stdout_is_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head -1` that has already read its line and gone
    try:
        r = subprocess.run([sys.executable, "-m", "audit", "list"], stdout=write_end, stderr=subprocess.PIPE, text=True, env=env,
                           cwd=REPO, timeout=60)
    finally:
        os.close(write_end)
    assert r.returncode == 141 and r.stderr == "", r.stderr
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "audit", "list"], stdout=full, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO, timeout=60)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "audit: error: cannot write to standard output (No space left on device); check where it is redirected"]


def test_an_ascii_terminal_and_a_non_ascii_out(models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "résultats-監査"
    r = audit_subprocess("run", models["classifier"], "--probe", PROBE, "--out", out, "--no-explain", "--no-cache",
                         env={"PYTHONIOENCODING": "ascii"})
    assert r.code in (0, 1, 4), r.stderr
    assert "r\\xe9sultats-\\u76e3\\u67fb" in r.stdout  # escaped, not a crash after the files were written
    assert (out / "results.json").is_file() and (out / "report.html").is_file()


# ------------------------------------------------------------------------------------------------ cache
def _cache_cases(tmp: Path) -> dict[str, tuple[list[str], dict[str, str], str]]:
    """name -> (extra flags, environment, the warning expected)."""
    (tmp / "a-file").write_text("not a folder\n")
    corrupt = tmp / "corrupt"
    corrupt.mkdir()
    (corrupt / "outputs.sqlite").write_bytes(b"this is not a database " * 200)
    foreign = tmp / "foreign"
    foreign.mkdir()
    with sqlite3.connect(foreign / "outputs.sqlite") as conn:
        conn.execute("CREATE TABLE outputs (id INTEGER, blob BLOB, created TEXT)")
    return {
        "file-as-cache-dir": (["--cache-dir", str(tmp / "a-file")], {}, "keeps its outputs in memory"),
        "corrupt-sqlite": (["--cache-dir", str(corrupt)], {}, "rebuilt it empty"),
        "foreign-schema": (["--cache-dir", str(foreign)], {}, "rebuilt it empty"),
        "cache-below-a-file": ([], {"TRANSFORMER_AUDIT_CACHE": str(tmp / "a-file" / "cache")}, "keeps its outputs in memory"),
    }


@pytest.mark.parametrize("case", ["file-as-cache-dir", "corrupt-sqlite", "foreign-schema", "cache-below-a-file"])
def test_an_unusable_cache_costs_one_warning_not_the_audit(case: str, models: dict[str, Path], tmp_path: Path,
                                                          cli: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    """Oracle: the same results as a run without any cache; exactly one warning line on stderr."""
    flags, env, warning = _cache_cases(tmp_path)[case]
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    argv = ["run", str(models["classifier"]), "--probe", PROBE, "--quiet", "--no-explain"]
    r = cli(*argv, "--out", str(tmp_path / "out"), *flags)
    assert r.code in (0, 1, 4), r.stderr
    assert len(r.error_lines) == 1 and r.error_lines[0].startswith("audit: warning:") and warning in r.stderr, r.stderr
    cli(*argv, "--out", str(tmp_path / "ref"), "--no-cache")
    a, b = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("out", "ref"))
    assert without_timing(a) == without_timing(b)
    if "rebuilt" in warning:  # rebuilt as a working cache: a second run is served from it
        again = cli(*argv, "--out", str(tmp_path / "again"), *flags)
        served = json.loads((tmp_path / "again" / "results.json").read_text())["throughput"]
        assert again.stderr == "" and (served["cache_hits"] > 0 or PROBE in served["probes_from_cache"])  # outputs or the whole result


def test_a_cache_that_fails_mid_run_falls_back_once(tmp_path: Path) -> None:
    """A write that fails after the cache opened (read-only, disk full) switches to memory and goes on."""
    import numpy as np

    from audit.cache import OutputCache

    cache = OutputCache(tmp_path)
    cache.put_many({"a": np.arange(3)})

    class Failing:
        def __enter__(self) -> None:
            raise sqlite3.OperationalError("attempt to write a readonly database")

        def __exit__(self, *exc: object) -> None:
            return None

        def __getattr__(self, name: str) -> Any:
            raise sqlite3.OperationalError("attempt to write a readonly database")

    cache._conn = Failing()  # type: ignore[assignment]
    cache.put_many({"b": np.arange(2)})
    assert cache.path is None and list(cache.get_many(["b"])) == ["b"]


@pytest.mark.slow
def test_a_typo_in_a_hub_id_fails_fast_without_network(tmp_path: Path) -> None:
    start = time.monotonic()
    r = audit_subprocess("run", "someorg/bert-bsae-uncased", "--out", tmp_path / "out",
                         env={"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert r.code == 2 and len(r.error_lines) == 1 and "Retrying" not in r.stderr
    assert time.monotonic() - start < 20, "the first connection error should end it, not 25 s of retries"


def test_a_read_only_home_costs_one_warning(models: dict[str, Path], tmp_path: Path, cli: Callable[..., CliRun],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME on a read-only filesystem: the default cache folder cannot be made; the audit runs in memory."""
    home = tmp_path / "home"
    home.mkdir()
    if os.geteuid() == 0:  # root ignores modes: make the folder immutable instead
        if subprocess.run(["chattr", "+i", str(home)], capture_output=True).returncode != 0:
            pytest.skip("running as root without chattr: cannot make a read-only folder")
    else:
        home.chmod(0o555)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("TRANSFORMER_AUDIT_CACHE", raising=False)
    try:
        r = cli("run", str(models["classifier"]), "--probe", PROBE, "--quiet", "--no-explain", "--out", str(tmp_path / "out"))
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(home)], check=True)
        else:
            home.chmod(0o755)
    assert r.code in (0, 1, 4) and len(r.error_lines) == 1 and "keeps its outputs in memory" in r.stderr, r.stderr
    assert (tmp_path / "out" / "results.json").is_file() and list(home.iterdir()) == []
