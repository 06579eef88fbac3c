"""Tiny models of each head for the bias tests, shared with the rest of the suite through the root
``tiny`` fixture (built once per session); ``default_model`` comes from the root conftest."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_classifier(tiny):
    return tiny("bert-classifier")


@pytest.fixture(scope="session")
def tiny_mlm(tiny):
    return tiny("bert-mlm")


@pytest.fixture(scope="session")
def tiny_gpt2(tiny):
    return tiny("gpt2")


@pytest.fixture(scope="session")
def tiny_ner(tiny):
    return tiny("bert-ner")


@pytest.fixture(scope="session")
def tiny_encoder(tiny):
    return tiny("sentence-transformer")
