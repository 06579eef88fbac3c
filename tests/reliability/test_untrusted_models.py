"""Untrusted models through the CLI: a model folder must not run code on the auditor's machine unless the
user asks for it (``--trust-remote-code``, ``--allow-pickle``), and what is refused is reported in one line.

tests/audit/test_models.py checks the loader's refusals; these tests go through ``audit run`` and check
what actually happens: whether the folder's code or pickle payload runs, and that the allowed path gives
the same figures as the safe one.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from reliability_helpers import CliRun, audit_subprocess, malicious_pickle, remote_code_model

PROBE = "robustness.perturbation"


def _run(cli: Callable[..., CliRun], model: Path, out: Path, *extra: str) -> CliRun:
    return cli("run", str(model), "--probe", PROBE, "--out", str(out), "--quiet", "--no-explain", "--no-cache", *extra)


def _metrics(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["probes"][0]["metrics"]


def test_remote_code_runs_only_when_asked(models: dict[str, Path], tmp_path: Path, cli: Callable[..., CliRun]) -> None:
    marker = tmp_path / "ran.txt"
    folder = remote_code_model(models["classifier"], tmp_path / "remote", marker)
    refused = _run(cli, folder, tmp_path / "out")
    assert refused.code == 2 and len(refused.error_lines) == 1
    assert "auto_map" in refused.stderr and "--trust-remote-code" in refused.stderr
    assert not marker.exists() and not (tmp_path / "out").exists()
    # asked for: the folder's own class is used (in a child process, with its own module cache)
    allowed = audit_subprocess("run", folder, "--probe", PROBE, "--out", tmp_path / "out2", "--quiet", "--no-explain",
                               "--no-cache", "--trust-remote-code", env={"HF_MODULES_CACHE": str(tmp_path / "modules")})
    assert allowed.code in (0, 1, 4), allowed.stderr
    assert marker.read_text() == "the model folder ran its own code"
    assert json.loads((tmp_path / "out2" / "results.json").read_text())["model"]["architecture"] == "EvilModel"


def test_pickle_only_folder_is_refused_without_unpickling(models: dict[str, Path], tmp_path: Path,
                                                          cli: Callable[..., CliRun]) -> None:
    marker = tmp_path / "unpickled.txt"
    folder = tmp_path / "evil-pickle"
    shutil.copytree(models["classifier"], folder)
    (folder / "model.safetensors").unlink()
    malicious_pickle(folder / "pytorch_model.bin", marker)
    r = _run(cli, folder, tmp_path / "out")
    assert r.code == 2 and len(r.error_lines) == 1 and "--allow-pickle" in r.stderr
    assert not marker.exists()


def test_safetensors_win_over_a_pickle_beside_them(models: dict[str, Path], tmp_path: Path,
                                                    cli: Callable[..., CliRun]) -> None:
    """A malicious pytorch_model.bin next to model.safetensors is never unpickled, and the figures are
    those of the safetensors weights."""
    marker = tmp_path / "unpickled.txt"
    folder = tmp_path / "both"
    shutil.copytree(models["classifier"], folder)
    malicious_pickle(folder / "pytorch_model.bin", marker)
    r = _run(cli, folder, tmp_path / "out")
    assert r.code in (0, 1, 4), r.stderr
    assert not marker.exists()
    assert _run(cli, models["classifier"], tmp_path / "ref").code in (0, 1, 4)
    assert _metrics(tmp_path / "out") == _metrics(tmp_path / "ref")


def test_allow_pickle_loads_the_same_model(models: dict[str, Path], tmp_path: Path, cli: Callable[..., CliRun]) -> None:
    """--allow-pickle on a benign pickle gives exactly the figures of the same tensors in safetensors."""
    assert _run(cli, models["pickled"], tmp_path / "out", "--allow-pickle").code in (0, 1, 4)
    assert _run(cli, models["classifier"], tmp_path / "ref").code in (0, 1, 4)
    assert _metrics(tmp_path / "out") == _metrics(tmp_path / "ref")


def test_symlinks_inside_the_folder_are_fine(models: dict[str, Path], tmp_path: Path, cli: Callable[..., CliRun]) -> None:
    """Only links that leave the folder are refused: weights linked from a sub-folder (the hub cache's
    snapshot/blob layout, kept inside) load normally."""
    folder = tmp_path / "linked"
    shutil.copytree(models["classifier"], folder)
    (folder / "blobs").mkdir()
    (folder / "model.safetensors").rename(folder / "blobs" / "abc123")
    (folder / "model.safetensors").symlink_to(folder / "blobs" / "abc123")
    assert _run(cli, folder, tmp_path / "out").code in (0, 1, 4)
    assert _run(cli, models["classifier"], tmp_path / "ref").code in (0, 1, 4)
    assert _metrics(tmp_path / "out") == _metrics(tmp_path / "ref")
    outside = _run(cli, models["symlink_out"], tmp_path / "out3")
    assert outside.code == 2 and "symlink pointing outside" in outside.stderr and str(models["symlink_out"].parent) in outside.stderr
