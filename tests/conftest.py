"""Shared fixtures: tiny real models of each head, built once per session, and the default model."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory: pytest.TempPathFactory):
    """tiny_path(kind) -> folder of a tiny model of that kind (see audit.testing.build)."""
    from audit import testing

    root = tmp_path_factory.mktemp("tiny")
    built: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in built:
            built[kind] = testing.build(kind, root / kind)
        return built[kind]

    return get


@pytest.fixture(scope="session")
def tiny(tiny_path):
    """tiny(kind) -> a loaded adapter over a tiny model (no disk cache)."""
    from audit.loading import load

    loaded: dict[str, object] = {}

    def get(kind: str, **kwargs):
        key = kind + repr(sorted(kwargs.items()))
        if key not in loaded:
            loaded[key] = load(str(tiny_path(kind)), progress=False, use_cache=False, **kwargs)
        return loaded[key]

    return get


@pytest.fixture(scope="session")
def default_model():
    from audit.loading import load

    return load("default", progress=False, use_cache=False)


@pytest.fixture(scope="session")
def tiny_head(tiny, tmp_path_factory: pytest.TempPathFactory):
    """tiny_head(kind) -> a loaded tiny model of any head, the question-answering and sequence-to-sequence
    ones of probes.heads.tiny included (see audit.conformance.TINY_KINDS); built once per session."""
    from audit.conformance import tiny_models
    from probes.heads.tiny import KINDS

    heads = tiny_models(tmp_path_factory.mktemp("tiny_heads"))
    return lambda kind: heads(kind) if kind in KINDS else tiny(kind)
