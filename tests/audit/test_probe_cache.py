"""An unchanged audit re-runs from the probe-result cache: no forward passes, identical results; any change to
what a result depends on (parameters, a data file's contents, the budget) recomputes it."""
from __future__ import annotations

import audit
from audit import probe_cache, versions

PROBES = ["bias.crows_pairs", "multilingual.tokenizer"]


def _run(path, cache, **kw):  # type: ignore[no-untyped-def]
    return audit.run(str(path), probes=kw.pop("probes", PROBES), explain=False, progress=False, cache_dir=str(cache), **kw)


def _metrics(result):  # type: ignore[no-untyped-def]
    return {p.probe: [(m.name, m.group, m.value, m.ci) for m in p.metrics] for p in result.probes}


def test_rerun_comes_from_the_cache_and_equals_a_fresh_run(tiny_path, tmp_path):  # type: ignore[no-untyped-def]
    path = tiny_path("bert-mlm")
    cold = _run(path, tmp_path / "c")
    assert cold.throughput["tokens"] > 0 and cold.throughput["probes_from_cache"] == ""
    again = _run(path, tmp_path / "c")
    assert again.throughput["probes_from_cache"] == ", ".join(sorted(PROBES, key=lambda n: PROBES.index(n)))
    assert again.throughput["tokens"] == 0 and again.throughput["forward_calls"] == 0
    fresh = audit.run(str(path), probes=PROBES, explain=False, progress=False, use_cache=False)  # oracle: no cache at all
    assert _metrics(again) == _metrics(cold) == _metrics(fresh)
    assert [p.headline for p in again.probes] == [p.headline for p in fresh.probes]
    assert [p.params for p in again.probes] == [p.params for p in fresh.probes]


def test_a_change_recomputes(tiny_path, tmp_path):  # type: ignore[no-untyped-def]
    path = tiny_path("bert-mlm")
    csv = tmp_path / "pairs.csv"
    header = "sent_more,sent_less,stereo_antistereo,bias_type\n"
    csv.write_text(header + "He is a doctor.,She is a doctor.,stereo,gender\n" * 3, encoding="utf-8")
    params = {"bias.crows_pairs": {"pairs_file": str(csv)}}
    one = ["bias.crows_pairs"]
    _run(path, tmp_path / "c", probes=one, probe_params=params)
    assert _run(path, tmp_path / "c", probes=one, probe_params=params).throughput["probes_from_cache"] == "bias.crows_pairs"
    csv.write_text(header + "He is a nurse.,She is a nurse.,stereo,gender\n" * 3, encoding="utf-8")  # same path, new rows
    edited = _run(path, tmp_path / "c", probes=one, probe_params=params)
    assert edited.throughput["probes_from_cache"] == "" and edited.throughput["tokens"] > 0
    assert _run(path, tmp_path / "c", probes=one, probe_params=params, seed=1).throughput["probes_from_cache"] == ""
    assert _run(path, tmp_path / "c", probes=one, probe_params=params, max_tokens=10**6).throughput["probes_from_cache"] == ""


def test_no_cache_means_no_probe_cache(tiny):  # type: ignore[no-untyped-def]
    assert not probe_cache.enabled(tiny("bert-mlm"))  # in-memory output cache: every probe recomputed
    assert len(versions.code_fingerprint()) == 64


def test_tokenizer_measurements_are_shared_by_models_with_the_same_tokenizer(tiny_path, tmp_path):  # type: ignore[no-untyped-def]
    """Two different models (an MLM and a classifier) with the same WordPiece tokenizer: the second audit takes the
    tokenizer probe from the cache, and it equals a fresh measurement; a different tokenizer (GPT-2 BPE) does not."""
    one = ["multilingual.tokenizer"]
    first = _run(tiny_path("bert-mlm"), tmp_path / "c", probes=one)
    shared = _run(tiny_path("bert-classifier"), tmp_path / "c", probes=one)
    assert shared.throughput["probes_from_cache"] == "multilingual.tokenizer"
    fresh = audit.run(str(tiny_path("bert-classifier")), probes=one, explain=False, progress=False, use_cache=False)
    assert _metrics(shared) == _metrics(fresh) == _metrics(first)
    other = _run(tiny_path("gpt2"), tmp_path / "c", probes=one)
    assert other.throughput["probes_from_cache"] == ""
