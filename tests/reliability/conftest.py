"""Fixtures for the reliability suite (helpers live in reliability_helpers.py)."""
from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reliability_helpers import HTML_LABELS, CliRun, build_variants

IN_PROCESS_LIMIT_S = 120
"""No test may hang: an in-process test that runs longer than this fails (SIGALRM)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a heavier reliability test (kill -9, subprocesses); still quick, still in CI")


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """Fail a test that hangs instead of blocking CI (there is no pytest-timeout here)."""

    def _expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"test ran past {IN_PROCESS_LIMIT_S} s: a hang")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.alarm(IN_PROCESS_LIMIT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one intra-op thread; on a shared 2-core runner two spinning OpenMP
    threads made one forward pass 60x slower (131 ms against 2 ms, measured)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliRun]:
    """cli(*argv) -> CliRun: ``audit.cli.main`` in this process (fast), with stdout and stderr captured."""
    from audit.cli import main

    def run(*argv: str) -> CliRun:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return CliRun(code, out, err)

    return run


@pytest.fixture(scope="session")
def models(tiny_path: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Name -> folder of a damaged or hostile model (see ``reliability_helpers.build_variants``), plus the healthy ones."""
    from audit import testing

    root = tmp_path_factory.mktemp("reliability-models")
    base = tiny_path("bert-classifier")
    v = build_variants(base, root)
    v["classifier"] = base
    v["html_labels"] = testing.build("bert-classifier", root / "html_labels", labels=HTML_LABELS)
    v["mlm"] = tiny_path("bert-mlm")
    v["encoder"] = tiny_path("sentence-transformer")
    return v




@pytest.fixture(scope="session")
def real_results(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results.json written by a real (small) audit of the tiny classifier."""
    import audit

    result = audit.run(str(models["classifier"]), probes=["robustness.perturbation"], explain=False, use_cache=False,
                       progress=False)
    return result.save(tmp_path_factory.mktemp("real-results") / "results.json")
