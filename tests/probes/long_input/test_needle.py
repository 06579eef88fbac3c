"""long_input.needle against a transparent oracle, on tiny classifiers of each head and on the default model."""
from __future__ import annotations

import numpy as np
import pytest

from audit.errors import AuditError
from probes.long_input import haystack
from probes.long_input.needle import NeedleProbe

NEEDLES = ["It was good.", "It was bad.", "Really good.", "Really bad."]
LIMIT = 64
GRID = [16, 32, 64, 128, 256]


def keyword_seen(model, text: str, needle: str, strategy: str) -> bool:
    """Independently of the probe: does the needle's keyword token survive ``strategy``? (character offsets)"""
    word = "good" if "good" in needle else "bad"
    at = text.index(needle) + needle.index(word)
    enc = model.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    pos = next(i for i, (s, e) in enumerate(enc["offset_mapping"]) if s <= at < e)
    n, room = len(enc["input_ids"]), LIMIT - 2
    if n <= room or strategy.startswith("window"):
        return True
    if strategy in ("truncate", "head"):
        return pos < room
    if strategy == "tail":
        return pos >= n - room
    return pos < room // 2 or pos >= n - (room - room // 2)


@pytest.fixture(scope="module")
def oracle_run(keyword_model):
    model = keyword_model(LIMIT)
    probe = NeedleProbe(needles=NEEDLES, lengths=GRID)
    return model, probe.run(model)


def test_oracle_agreement_is_one_while_seen_and_chance_beyond(oracle_run):
    model, result = oracle_run
    hays = haystack.build(model.engine, NEEDLES, GRID, haystack.DEPTHS, 0)
    for row in result.tables["cells"]:
        cell = [h for h in hays if h.length == row["length"] and h.depth == row["depth"]]
        # seen -> the needle's own label; unseen -> a 50/50 tie, argmax "negative": right only for the bad needles
        expected = np.mean([keyword_seen(model, h.text, NEEDLES[h.needle], row["strategy"]) or "bad" in NEEDLES[h.needle]
                            for h in cell])
        assert row["agreement"] == pytest.approx(expected), row
    trunc = {(r["length"], r["depth"]): r["agreement"] for r in result.tables["cells"] if r["strategy"] == "truncate"}
    assert all(trunc[(n, d)] == 1.0 for n in GRID if n <= LIMIT for d in haystack.DEPTHS)
    assert trunc[(256, 1.0)] == 0.5 and trunc[(256, 0.75)] == 0.5  # chance: the needle is never fed
    assert result.metric("agreement_if_needle_ignored").value == 0.5


def test_oracle_windows_recover_and_truncation_is_reported(oracle_run):
    _, result = oracle_run
    for row in result.tables["cells"]:
        if row["strategy"] in ("window_mean", "window_max"):
            assert row["agreement"] == 1.0, row
    assert result.metric("effective_length").value == LIMIT
    eff = {r["strategy"]: r["effective_length"] for r in result.tables["effective_length"]}
    assert eff["window_mean"] == eff["window_max"] == 256
    assert result.metric("truncation_limit").value == LIMIT
    assert result.metric("share_dropped").value == pytest.approx(1 - LIMIT / 256, abs=0.01)
    best = next(m for m in result.metrics if m.name == "best_remedy_agreement")
    assert best.group == "window_mean" and best.value == 1.0  # the first of the tied winners
    # a remedy that recovers every unseen positive needle is significant after BH against truncation
    gains = [r for r in result.tables["remedies"] if r["strategy"] == "window_mean" and r["past_limit"]]
    assert all(r["gain_vs_truncate"] > 0 for r in gains)


def test_oracle_cases_are_the_flips_with_the_needle_as_pair(oracle_run):
    model, result = oracle_run
    assert result.cases
    for case in result.cases:
        assert case.pair in NEEDLES and case.pair in case.text and case.target == "positive"
        probs = model.class_probs([case.text])[0]
        assert model.labels[int(probs.argmax())] != case.target  # really a flip under truncation
        assert case.meta["needle_visible"] is False  # the oracle only flips when it cannot see the keyword


def test_tables_match_a_brute_force_recount(tiny):
    model = tiny("bert-classifier")
    needles = ["I loved it, wonderful.", "I hated it, awful.", "Great and happy.", "Sad and bad."]
    result = NeedleProbe(needles=needles, lengths=[32, 64, 128], depths=[0.0, 0.5, 1.0], strategies=["tail", "window_max"]).run(model)
    hays = haystack.build(model.engine, needles, [32, 64, 128], [0.0, 0.5, 1.0], 0)
    alone = model.class_probs(needles)
    for strategy in ("truncate", "tail", "window_max"):
        probs = model.class_probs([h.text for h in hays], strategy=strategy)
        for row in (r for r in result.tables["cells"] if r["strategy"] == strategy):
            idx = [i for i, h in enumerate(hays) if h.length == row["length"] and h.depth == row["depth"]]
            ref = [int(alone[hays[i].needle].argmax()) for i in idx]
            agree = [int(probs[i].argmax()) == r for i, r in zip(idx, ref)]
            drops = [alone[hays[i].needle, r] - probs[i, r] for i, r in zip(idx, ref)]
            assert row["agreement"] == pytest.approx(np.mean(agree))
            assert row["flip_rate"] == pytest.approx(1 - np.mean(agree))
            assert row["confidence_drop"] == pytest.approx(np.mean(drops), abs=1e-6)
    # within the limit every strategy feeds the same tokens, so the outputs agree exactly
    for n in (32, 64):
        rows = {r["strategy"]: r["agreement"] for r in result.tables["cells"] if r["length"] == n and r["depth"] == 0.5}
        assert len(set(rows.values())) == 1


@pytest.mark.parametrize("kind", ["bert-classifier", "distilbert-classifier", "roberta-classifier"])
def test_runs_on_tiny_classifiers(tiny, kind):
    model = tiny(kind)
    result = NeedleProbe(lengths=[48, 64, 128], depths=[0.0, 1.0]).run(model)
    assert result.metric("truncation_limit").value == model.max_length == 64
    assert {c.kind for c in result.charts} == {"heatmap", "line"}
    heat = result.charts[0].data
    assert len(heat["values"]) == 3 and len(heat["values"][0]) == 2
    # past the limit under truncation a needle at the end is never fed: every needle gets the filler's answer,
    # so agreement there equals the share of needles that share the filler's label
    cell = next(r for r in result.tables["cells"] if r["strategy"] == "truncate" and r["length"] == 128 and r["depth"] == 1.0)
    assert cell["needle_seen"] == 0.0
    assert cell["agreement"] == pytest.approx(result.metric("agreement_if_needle_ignored").value)


def test_default_model(default_model):
    needles = ["I absolutely loved it, a wonderful and delightful experience.", "This is terrible, I hated every awful minute of it."]
    result = NeedleProbe(needles=needles, lengths=[32, 256, 512], depths=[0.0, 1.0], strategies=["tail"]).run(default_model)
    assert result.metric("truncation_limit").value == 256
    assert "sentence_bert_config.json" in result.headline
    trunc = {(r["length"], r["depth"]): r for r in result.tables["cells"] if r["strategy"] == "truncate"}
    assert trunc[(32, 0.0)]["agreement"] == 1.0
    assert trunc[(512, 1.0)]["needle_seen"] == 0.0
    tail = {(r["length"], r["depth"]): r for r in result.tables["cells"] if r["strategy"] == "tail"}
    assert tail[(512, 1.0)]["needle_seen"] == 1.0 and tail[(512, 0.0)]["needle_seen"] == 0.0
    assert result.metric("share_dropped").value == pytest.approx(0.5, abs=0.01)
    filler = result.tables["filler"]
    assert all(r["confidence"] < 0.9 for r in filler)  # the filler alone carries no strong label


@pytest.mark.parametrize("params, message", [
    ({"lengths": [32, 20000]}, "beyond max_tokens"),
    ({"needles": ["  "]}, "is empty"),
    ({"needles": ["word " * 40], "min_length": 16}, "more than the shortest length"),
    ({"strategies": ["windows"]}, "did you mean"),
    ({"depths": [1.5]}, "depths"),
])
def test_bad_input(tiny, params, message):
    with pytest.raises(AuditError, match=message):
        NeedleProbe(**params).validate(tiny("bert-classifier"))


def test_model_without_a_max_length(tmp_path):
    import json

    from audit import testing
    from audit.loading import load

    folder = testing.build("bert-classifier", tmp_path / "nolimit", max_length=512)  # 512 = transformers' BERT default
    cfg = json.loads((folder / "config.json").read_text())
    cfg.pop("max_position_embeddings")
    (folder / "config.json").write_text(json.dumps(cfg))
    tcfg = json.loads((folder / "tokenizer_config.json").read_text())
    tcfg.pop("model_max_length", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(tcfg))
    model = load(str(folder), progress=False, use_cache=False)
    with pytest.raises(AuditError, match=r"declares no maximum length .*default 512"):
        NeedleProbe().validate(model)
