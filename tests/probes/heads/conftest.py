"""Tiny QA and seq2seq models for the head probes, built once per session."""
from __future__ import annotations

import pytest

import probes.heads  # noqa: F401  (registers the probes until probes.base._load_all imports them)


@pytest.fixture(scope="session")
def head_model(tmp_path_factory):
    """head_model(kind) -> a loaded adapter over a tiny bert-qa, roberta-qa, bart or t5 model."""
    from audit.loading import load
    from probes.heads.tiny import build

    root = tmp_path_factory.mktemp("head-probes")
    loaded = {}

    def get(kind: str):
        if kind not in loaded:
            # seq2seq: room for the summarization documents under the tiny byte-level vocabulary
            length = 256 if kind in ("bart", "t5") else 64
            loaded[kind] = load(str(build(kind, root / kind, max_length=length)), progress=False, use_cache=False)
        return loaded[kind]

    return get
