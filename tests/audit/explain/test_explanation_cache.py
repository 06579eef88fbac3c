"""Explanations of telling cases are cached like model outputs: a re-run reuses them, any change recomputes."""
from __future__ import annotations

from audit.explain import explain_cases
from audit.loading import load
from audit.results import Case

CASES = [Case("the film was good", 0.9, "gap", pair="the film was bad", meta={"probe": "p"}),
         Case("a long and winding road", 0.5, "flip", target="LABEL_1", meta={"probe": "q"})]


def test_a_second_load_serves_the_same_rows_from_disk(tiny_path, tmp_path):
    first = load(str(tiny_path("bert-classifier")), progress=False, cache_dir=str(tmp_path))
    rows = explain_cases(first, CASES, n_steps=8)
    assert first.engine.stats.explanations_cached == 0
    again = load(str(tiny_path("bert-classifier")), progress=False, cache_dir=str(tmp_path))
    calls = again.engine.stats.forward_calls
    assert explain_cases(again, CASES, n_steps=8) == rows
    assert again.engine.stats.explanations_cached == len(CASES)
    assert again.engine.stats.forward_calls == calls  # no model call at all


def test_any_change_of_cases_or_settings_recomputes(tiny):
    m = tiny("bert-classifier")
    base = explain_cases(m, CASES, n_steps=8)
    hits = m.engine.stats.explanations_cached
    changed = [CASES[0], Case("a long and winding road", 0.5, "flip", target="LABEL_0", meta={"probe": "q"})]
    assert explain_cases(m, changed, n_steps=8)[1]["target"] == "LABEL_0"
    assert explain_cases(m, CASES, n_steps=16)[0]["n_steps"] >= 16
    assert m.engine.stats.explanations_cached == hits  # neither was served from the cache
    assert explain_cases(m, CASES, n_steps=8) == base
    assert m.engine.stats.explanations_cached == hits + len(CASES)
