"""--max-tokens / --max-cases bound the tokens every probe pushes through the model, and the cut is stated.
That every registered probe stays under a budget on every head is checked by the conformance kit
(tests/audit/test_conformance.py)."""
from __future__ import annotations

import pytest

import audit
from audit.budget import NOT_RUN, TOKENS_PER_CASE, BudgetExceeded, token_budget
from audit.cache import OutputCache
from audit.engine import EngineStats
from audit.errors import AuditError


def test_long_input_lm_on_a_512_position_mlm_is_cut_to_fit_max_cases(tiny_path, tmp_path):  # type: ignore[no-untyped-def]
    """The issue's case: 12.9 M tokens under --max-cases 30 before budgets; now within 30 × 2,048, with the cut said."""
    from audit import testing

    path = testing.build("bert-mlm", tmp_path / "mlm512", max_length=512)
    result = audit.run(str(path), probes=["long_input.lm"], max_cases=30, explain=False, progress=False, use_cache=False)
    (p,) = result.probes
    assert p.status == "ok"
    assert 0 < result.throughput["tokens"] <= 30 * TOKENS_PER_CASE
    cut = [w for w in p.warnings if w.startswith("cut to fit the budget of 61,440 tokens")]
    assert cut and "longest input 1024 → 512" in cut[0]
    assert p.params["max_tokens"] < 1024 and p.params["n_lengths"] < 5  # the params say what actually ran


def test_a_probe_that_cannot_fit_is_not_run_and_says_why(tiny):  # type: ignore[no-untyped-def]
    model = tiny("bert-mlm")
    model.engine.cache = OutputCache(None)
    model.engine.stats = EngineStats()  # the shared model's count from earlier tests (the removed every-probe loop reset it)
    result = audit.run(model, probes=["bias.crows_pairs"], max_tokens=5, explain=False, progress=False)
    (p,) = result.probes
    assert p.status == "skipped" and p.headline.startswith(NOT_RUN) and "raise --max-tokens" in p.headline
    assert result.throughput["tokens"] <= 5


def test_engine_refuses_before_computing():  # type: ignore[no-untyped-def]
    import torch

    from audit.engine import Engine
    from audit.testing import minilm_tokenizer

    calls = []
    engine = Engine(minilm_tokenizer(), fingerprint="t", device=torch.device("cpu"), dtype=torch.float32, max_length=64)

    def forward(b):  # type: ignore[no-untyped-def]
        calls.append(len(b.lengths))
        return [torch.zeros(1).numpy() for _ in b.lengths]

    with engine.limited(10):
        engine.map("x", [[1, 2, 3], [4, 5, 6]], forward)  # 6 tokens
        with pytest.raises(BudgetExceeded) as info:
            engine.map("x", [[1, 2, 3], [7, 8, 9, 10, 11]], forward)  # 5 new tokens (the first row is cached)
    assert info.value.needed == 5 and info.value.spent == 6 and calls == [2]
    assert engine.limit is None


def test_token_budget_mapping():
    assert token_budget(None, None) is None
    assert token_budget(None, 3) == 3 * TOKENS_PER_CASE
    assert token_budget(100, 3) == 100
    with pytest.raises(AuditError):
        token_budget(0, None)
