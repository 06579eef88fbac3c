"""Determinism (same seed, same results), offline operation (no socket is ever opened), and a CUDA
out-of-memory mid-run absorbed by backing off."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from reliability_helpers import REPO, CliRun, without_timing

SEEDED = ["robustness.perturbation", "bias.counterfactual"]
"""Probes that draw random numbers: typos at random positions; sampled frames and permutation tests."""


def _run_seeded(cli: Callable[..., CliRun], model: Path, out: Path, seed: int) -> dict[str, Any]:
    argv = ["run", str(model), "--out", str(out), "--quiet", "--no-explain", "--no-cache", "--max-cases", "24",
            "--seed", str(seed)]
    for p in SEEDED:
        argv += ["--probe", p]
    r = cli(*argv)
    assert r.code in (0, 1, 4), r.stderr
    return json.loads((out / "results.json").read_text())


def test_same_seed_same_results(models: dict[str, Path], tmp_path: Path, cli: Callable[..., CliRun]) -> None:
    first = _run_seeded(cli, models["classifier"], tmp_path / "a", seed=3)
    second = _run_seeded(cli, models["classifier"], tmp_path / "b", seed=3)
    assert without_timing(first) == without_timing(second)
    other = _run_seeded(cli, models["classifier"], tmp_path / "c", seed=4)
    assert without_timing(other) != without_timing(first), "the seed changes nothing: the comparison proves nothing"


# -------------------------------------------------------------------------------------------- offline
class NetworkCall(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every way to reach another machine raises, and is recorded (a caller might swallow the error)."""
    attempts: list[str] = []

    def refuse(what: str) -> Callable[..., Any]:
        def raiser(*args: Any, **kwargs: Any) -> Any:
            attempts.append(f"{what}{args[1:] if what.startswith('socket.') else args}")
            raise NetworkCall(f"network call during an offline audit: {what} {args!r}")

        return raiser

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    return attempts


@pytest.mark.parametrize("model", ["default", "classifier"])
def test_auditing_offline_opens_no_socket(model: str, models: dict[str, Path], tmp_path: Path,
                                          cli: Callable[..., CliRun], no_network: list[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """No --offline flag and no HF_HUB_OFFLINE: a local or the default model must not need the hub."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    spec = "default" if model == "default" else str(models[model])
    r = cli("run", spec, "--probe", "robustness.perturbation", "--max-cases", "4", "--out", str(tmp_path / "out"),
            "--quiet", "--cache-dir", str(tmp_path / "cache"))
    assert no_network == []
    assert r.code in (0, 1, 4), r.stderr


def test_fresh_process_without_offline_variables_opens_no_socket(tmp_path: Path) -> None:
    """The same in a new interpreter with the offline variables removed, so nothing imported earlier in
    this test session (huggingface_hub reads HF_HUB_OFFLINE at import) can hide a call; explanations on."""
    log = tmp_path / "attempts.txt"
    script = (
        "import socket, sys\n"
        f"log = open({str(log)!r}, 'a')\n"
        "def refuse(*a, **k):\n"
        "    log.write(repr(a[1:] if a and isinstance(a[0], socket.socket) else a) + '\\n'); log.flush()\n"
        "    raise OSError('network is unreachable (test)')\n"
        "socket.socket.connect = socket.socket.connect_ex = refuse\n"
        "socket.create_connection = socket.getaddrinfo = refuse\n"
        "from audit.cli import main\n"
        f"sys.exit(main(['run', 'default', '--probe', 'robustness.perturbation', '--max-cases', '4', '--out', "
        f"{str(tmp_path / 'out')!r}, '--quiet', '--cache-dir', {str(tmp_path / 'cache')!r}]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=240, cwd=REPO)
    assert not log.exists() or log.read_text() == "", log.read_text()
    assert proc.returncode in (0, 1, 4), proc.stderr
    assert json.loads((tmp_path / "out" / "results.json").read_text())["explanations"]


# ------------------------------------------------------------------------------------------------ OOM
class _SmallGpu(torch.nn.Module):
    """The model, behind a "GPU" that holds at most ``limit`` padded tokens per forward pass."""

    def __init__(self, model: torch.nn.Module, limit: int) -> None:
        super().__init__()
        self.inner = model
        self.config = model.config
        self.limit = limit
        self.shapes: list[tuple[int, int]] = []

    def forward(self, input_ids: torch.Tensor, **kwargs: Any) -> Any:
        self.shapes.append(tuple(input_ids.shape))
        if input_ids.numel() > self.limit:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {input_ids.numel()} tokens")
        return self.inner(input_ids=input_ids, **kwargs)


def _adapter(models: dict[str, Path], limit: int | None) -> Any:
    from audit.loading import load

    m = load(str(models["classifier"]), progress=False, use_cache=False)
    if limit is not None:
        m.model = _SmallGpu(m.model, limit)
    return m


def test_out_of_memory_mid_run_backs_off_and_gives_the_same_result(models: dict[str, Path]) -> None:
    import audit

    kwargs = dict(probes=["robustness.perturbation"], explain=False, progress=False)
    reference = audit.run(_adapter(models, None), **kwargs)
    small = _adapter(models, limit=96)
    result = audit.run(small, **kwargs)
    assert result.throughput["oom_backoffs"] >= 1
    assert any(r * w > 96 for r, w in small.model.shapes), "no batch ever ran out of memory"
    assert all(r * w <= 96 for r, w in small.model.shapes[-3:])
    got, want = result.probe("robustness.perturbation"), reference.probe("robustness.perturbation")
    for a, b in zip(got.metrics, want.metrics, strict=True):
        assert (a.key, a.value, a.n) == (b.key, b.value, b.n)
        np.testing.assert_allclose(a.ci, b.ci)


def test_out_of_memory_on_one_input_is_a_clear_error(models: dict[str, Path], tmp_path: Path,
                                                     cli: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    import audit.runner

    monkeypatch.setattr(audit.runner, "load", lambda *a, **k: _adapter(models, limit=4))
    r = cli("run", str(models["classifier"]), "--probe", "robustness.perturbation", "--out", str(tmp_path / "out"),
            "--quiet", "--no-explain")
    assert r.code == 2 and len(r.error_lines) == 1 and "out of memory" in r.stderr.lower()
    assert not (tmp_path / "out").exists()
