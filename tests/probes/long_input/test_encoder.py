"""long_input.encoder: text past the truncation limit changes nothing; similarity tables match a recount."""
from __future__ import annotations

import numpy as np
import pytest

from audit.errors import AuditError
from probes.long_input import haystack
from probes.long_input.encoder import EncoderProbe

NEEDLES = ["I loved it, wonderful.", "I hated it, awful."]


def test_past_limit_is_exactly_unchanged_on_the_default_model(default_model):
    result = EncoderProbe(needles=NEEDLES, lengths=[32, 512], depths=[0.0, 1.0], strategies=["truncate"]).run(default_model)
    assert result.metric("truncation_limit").value == 256  # sentence_bert_config.json, not the 512 position embeddings
    assert "sentence_bert_config.json max_seq_length" in result.headline
    for row in result.tables["past_limit_check"]:
        assert row["tokens"] >= 256 and row["tokens_with_extra"] > 400
        assert row["ids_identical"] and row["similarity"] == 1.0 and row["max_abs_diff"] == 0.0
    assert result.metric("past_limit_similarity").value == 1.0
    assert result.metric("past_limit_max_abs_diff").value == 0.0
    assert not result.warnings


def test_past_limit_on_a_tiny_sentence_transformer_and_recount(tiny):
    model = tiny("sentence-transformer")  # max_seq_length 32 while its position embeddings reach 64
    result = EncoderProbe(needles=NEEDLES, lengths=[16, 32, 64], depths=[0.0, 0.5, 1.0]).run(model)
    assert result.metric("truncation_limit").value == 32
    assert result.metric("past_limit_max_abs_diff").value == 0.0
    assert all(r["similarity"] == 1.0 for r in result.tables["past_limit_check"])
    # independent recount of the similarity table
    hays = haystack.build(model.engine, NEEDLES, [16, 32, 64], [0.0, 0.5, 1.0], 0)
    alone = model.embed(NEEDLES)
    for strategy in ("truncate", "window_mean"):
        vecs = model.embed([h.text for h in hays], strategy=strategy)
        for row in (r for r in result.tables["cells"] if r["strategy"] == strategy):
            idx = [i for i, h in enumerate(hays) if h.length == row["length"] and h.depth == row["depth"]]
            cos = [float(vecs[i] @ alone[hays[i].needle] / np.linalg.norm(vecs[i]) / np.linalg.norm(alone[hays[i].needle])) for i in idx]
            assert row["similarity"] == pytest.approx(np.mean(cos), abs=1e-5)
    # a needle entirely past the cut-off is never fed: every needle's haystack gives the same vector
    cut = [h for h in hays if h.length == 64 and h.depth == 1.0]
    vecs = model.embed([h.text for h in cut])
    assert np.array_equal(vecs[0], vecs[1])


def test_runs_on_a_tiny_encoder(tiny):
    result = EncoderProbe(needles=NEEDLES, lengths=[32, 128], depths=[0.0, 1.0]).run(tiny("bert-encoder"))
    assert result.metric("truncation_limit").value == 64
    assert {c.kind for c in result.charts} == {"heatmap", "line"}


def test_bad_input(tiny):
    with pytest.raises(AuditError, match="beyond max_tokens"):
        EncoderProbe(lengths=[32, 9000]).validate(tiny("sentence-transformer"))
    with pytest.raises(AuditError, match="no room past the model's limit"):
        EncoderProbe(lengths=[32], max_tokens=33).validate(tiny("sentence-transformer"))
