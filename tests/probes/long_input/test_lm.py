"""long_input.lm on a tiny causal and a tiny masked LM: passkey credit and loss bins recomputed by hand."""
from __future__ import annotations

import numpy as np
import pytest

from audit.errors import AuditError
from probes.long_input import haystack
from probes.long_input.lm import LanguageModelProbe
from probes.long_input.texts import PASSKEY_QUERY

PARAMS = {"lengths": [48, 96], "depths": [0.0, 1.0], "n_distractors": 1, "n_texts": 1, "position_bins": 4}


def fresh(tiny_path, kind):
    """A new adapter (empty in-memory cache) for the recount: see test_second_run_on_a_masked_lm."""
    from audit.loading import load

    return load(str(tiny_path(kind)), progress=False, use_cache=False)


@pytest.mark.parametrize("kind", ["gpt2", "roberta-mlm"])
def test_passkey_and_loss_match_a_recount(tiny, tiny_path, kind):
    probe = LanguageModelProbe(**PARAMS)
    result = probe.run(tiny(kind))
    model = fresh(tiny_path, kind)
    limit, grid, plants, keys, query, _ = probe._plan(model)
    hays = haystack.build(model.engine, plants, [n - query for n in grid], PARAMS["depths"], 0)
    texts = [h.text + " " + PASSKEY_QUERY.format(key=k) for h in hays for k in keys[h.needle][0]]
    totals = np.array([s.total for s in model.token_scores(texts)]).reshape(len(hays), -1)
    for row in result.tables["passkey"]:
        credit = []
        for i, h in enumerate(hays):
            if h.length + query != row["length"] or h.depth != row["depth"]:
                continue
            right = keys[h.needle][1]
            winners = np.flatnonzero(totals[i] == totals[i].max())
            credit.append(1 / len(winners) if right in winners else 0.0)
        assert row["accuracy"] == pytest.approx(np.mean(credit))
    # past the limit the restated key is truncated away: all candidates tie, credit is exactly chance
    for row in result.tables["passkey"]:
        if row["query_seen"] == 0.0:
            assert row["accuracy"] == pytest.approx(1 / 2)
    assert result.metric("passkey_chance").value == pytest.approx(1 / 2)
    bins = result.tables["loss_by_position"]
    assert len(bins) == 4 and sum(b["n"] for b in bins) == bins[-1]["to"]
    natural = haystack.filler_only(model.tokenizer, [2 * limit], 0)[0]
    scores = fresh(tiny_path, kind).token_scores([natural])[0].logprobs
    for b in bins:
        assert b["loss"] == pytest.approx(-scores[b["from"] : b["to"]].mean())
    assert {c.kind for c in result.charts} == {"heatmap", "line"}


def test_bad_input(tiny):
    with pytest.raises(AuditError, match="n_key_sets must be at least 1"):
        LanguageModelProbe(n_key_sets=0).validate(tiny("gpt2"))
    with pytest.raises(AuditError, match="more than the shortest length"):
        LanguageModelProbe(lengths=[20, 64]).validate(tiny("gpt2"))


def test_second_run_on_a_masked_lm(tiny_path):
    model = fresh(tiny_path, "roberta-mlm")
    LanguageModelProbe(**PARAMS).run(model)
    LanguageModelProbe(**PARAMS).run(model)  # every row now comes from the cache, as on a re-run with --cache
