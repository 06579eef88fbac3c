"""Tiny models of each head, built once per session, and the packaged default model."""
from __future__ import annotations

import pytest

from audit.models import load
from audit.testing import build


def _tiny(tmp_path_factory: pytest.TempPathFactory, kind: str):
    path = build(kind, tmp_path_factory.mktemp(kind))
    return load(str(path), progress=False, use_cache=False)


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory):
    return _tiny(tmp_path_factory, "bert-classifier")


@pytest.fixture(scope="session")
def tiny_mlm(tmp_path_factory):
    return _tiny(tmp_path_factory, "bert-mlm")


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory):
    return _tiny(tmp_path_factory, "gpt2")


@pytest.fixture(scope="session")
def tiny_ner(tmp_path_factory):
    return _tiny(tmp_path_factory, "bert-ner")


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory):
    return _tiny(tmp_path_factory, "sentence-transformer")


@pytest.fixture(scope="session")
def default_model():
    return load("default", progress=False, use_cache=False)
