"""The model is built on first use when an earlier build of the same files recorded its facts: identical model info,
identical outputs once built, a rebuild for any change to the files, and a cached re-run that never builds it."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audit import lazy_model
from audit.cache import OutputCache
from audit.errors import AuditError
from audit.loading import load

ROOT = Path(__file__).resolve().parents[2]


def _load(path, cache):  # type: ignore[no-untyped-def]
    return load(str(path), cache_dir=str(cache), progress=False)


@pytest.mark.parametrize("kind", ["bert-classifier", "gpt2", "sentence-transformer"])
def test_second_load_is_lazy_with_the_same_info_and_outputs(tiny_path, tmp_path, kind):  # type: ignore[no-untyped-def]
    path = tiny_path(kind)
    eager = _load(path, tmp_path / "c")
    lazy = _load(path, tmp_path / "c")
    assert not isinstance(eager._model, lazy_model.LazyModel)
    assert isinstance(lazy._model, lazy_model.LazyModel)  # nothing built yet
    assert dataclasses.asdict(lazy.info) == dataclasses.asdict(eager.info)
    texts = ["The nurse said she would help.", "A b c d e f g."]
    for m in (eager, lazy):
        m.engine.cache = OutputCache(None)  # outputs computed, not read back from the shared cache
    if kind == "gpt2":
        a, b = ([s.total for s in m.token_scores(texts)] for m in (eager, lazy))
    elif kind == "sentence-transformer":
        a, b = (m.embed(texts) for m in (eager, lazy))
    else:
        a, b = (m.class_probs(texts) for m in (eager, lazy))
    assert not isinstance(lazy._model, lazy_model.LazyModel)  # built by the first forward pass
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert lazy.model.config.pad_token_id == eager.model.config.pad_token_id


def test_changed_files_are_built_again(tiny_path, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "m"
    shutil.copytree(tiny_path("bert-classifier"), path)
    _load(path, tmp_path / "c")
    config = json.loads((path / "config.json").read_text())
    config["id2label"] = {"0": "neg", "1": "pos"}
    config["label2id"] = {"neg": 0, "pos": 1}
    (path / "config.json").write_text(json.dumps(config))
    edited = _load(path, tmp_path / "c")
    assert not isinstance(edited._model, lazy_model.LazyModel) and edited.labels == ("neg", "pos")
    assert isinstance(_load(path, tmp_path / "c")._model, lazy_model.LazyModel)
    assert not isinstance(load(str(path), use_cache=False, progress=False)._model, lazy_model.LazyModel)


def test_a_build_that_differs_from_the_record_is_refused(tiny_path, tmp_path):  # type: ignore[no-untyped-def]
    path = tiny_path("bert-classifier")
    _load(path, tmp_path / "c")
    lazy = _load(path, tmp_path / "c")
    record = lazy._model.facts
    lazy._model.facts = dataclasses.replace(record, parameters=record.parameters + 1)
    with pytest.raises(AuditError, match="differs from the record"):
        lazy.class_probs(["hello"])


def test_a_cached_rerun_never_builds_the_model(tiny_path, tmp_path):  # type: ignore[no-untyped-def]
    """`audit run` twice in fresh processes: the second serves every probe from the cache and never imports the
    model's modeling code (the first build imported it)."""
    probe = "bias.pronoun_occupation"
    wrapper = (
        "import sys\nfrom audit.cli import main\ncode = main(sys.argv[1:])\n"
        "print('BUILT', 'transformers.models.bert.modeling_bert' in sys.modules)\nsys.exit(code)"
    )
    env = {**os.environ, "TRANSFORMER_AUDIT_CACHE": str(tmp_path / "c"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    args = [
        sys.executable,
        "-c",
        wrapper,
        "run",
        str(tiny_path("bert-mlm")),
        "--probe",
        probe,
        "--quiet",
        "--max-cases",
        "8",
        "--out",
        str(tmp_path / "out"),
    ]
    runs = [subprocess.run(args, env=env, capture_output=True, text=True, cwd=ROOT) for _ in range(2)]
    for r in runs:
        assert r.returncode in (0, 1, 4), r.stderr[-2000:]
    assert "BUILT True" in runs[0].stdout and "BUILT False" in runs[1].stdout
    second = json.loads((tmp_path / "out" / "results.json").read_text())
    assert second["throughput"]["forward_calls"] == 0 and second["throughput"]["probes_from_cache"] == probe
