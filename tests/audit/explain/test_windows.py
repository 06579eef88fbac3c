"""Long inputs read in windows: each window explained as the model reads it, tied to the adapter's decision."""
from __future__ import annotations

import numpy as np
import pytest

from audit.errors import AuditError
from audit.explain.explainer import FLOAT_FLOOR, explain

LONG = " ".join(["the river runs past the old mill and the quiet town"] * 12) + " and the customer was furious"


@pytest.mark.parametrize("kind,kwargs", [("bert-classifier", {}), ("sentence-transformer", {"task": "zero-shot-classification"})])
def test_each_window_is_what_the_model_reads_and_they_average_to_its_decision(tiny, kind, kwargs):
    m = tiny(kind, **kwargs)
    rows, owner = m.engine.shape_long([LONG, "A short one."], "window_mean")
    res = explain(m, [LONG, "A short one."], target=m.labels[1], windows=True, n_steps=8, completeness_tol=1e-3,
                  faithfulness=False)
    assert len(res.examples) == len(rows) and len(rows) > 2
    for e, row in zip(res.examples, rows):
        assert tuple(m.tokenizer.convert_tokens_to_ids(list(e.tokens))) == tuple(row)  # the engine's own window rows
        a = e.attributions[0]
        assert a.converged and abs(sum(a.token_scores) - (e.value - e.baseline_value)) <= \
            1e-3 * abs(e.value - e.baseline_value) + FLOAT_FLOOR * max(1, abs(e.value))
        assert 1 / (1 + np.exp(-e.value)) == pytest.approx(e.prediction["target_prob"], abs=1e-5)
    n_long = owner.count(0)
    assert all(f"of {n_long}: the model reads text tokens" in e.truncated for e in res.examples[:n_long])
    assert res.examples[-1].truncated is None and res.examples[-1].text == "A short one."
    assert "furious" in res.examples[n_long - 1].words and "furious" not in res.examples[0].words
    # the adapter's decision on the long text averages its windows' probabilities (window_mean)
    p = np.mean([1 / (1 + np.exp(-e.value)) for e in res.examples[:n_long]])
    assert p == pytest.approx(float(m.class_probs([LONG], strategy="window_mean")[0, 1]), abs=1e-5)


def test_windows_refuse_pairs_and_other_heads(tiny):
    with pytest.raises(AuditError, match="per-window explanations"):
        explain(tiny("bert-classifier"), [LONG], pairs=["x"], windows=True)
    with pytest.raises(AuditError, match="per-window explanations"):
        explain(tiny("bert-mlm"), [LONG + " [MASK]"], windows=True)
