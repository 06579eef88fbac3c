"""Config fixtures: write YAML files into a temporary folder; a throwaway probe with typed parameters."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Literal

import pytest

from probes.base import Probe, param


class TypedProbe(Probe):
    """Only here to test parameter checks; registered per test, never globally."""

    name = "testing.typed"
    suite = "testing"

    n: int = param(10, "a count")
    rate: float = param(0.5, "a rate")
    names: list[str] | None = param(None, "some names")
    kind: Literal["a", "b"] = param("a", "one of two kinds")


@pytest.fixture
def typed_probe(monkeypatch):
    from probes import base

    base.registry()  # load the real ones first
    monkeypatch.setitem(base._REGISTRY, TypedProbe.name, TypedProbe)
    return TypedProbe


@pytest.fixture
def write(tmp_path, monkeypatch):
    """write(name, yaml_text) -> path (relative to the temporary working folder), dedented."""
    monkeypatch.chdir(tmp_path)

    def _write(name: str, text: str) -> Path:
        path = Path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write
