"""On a CPU the engine times its candidate batch budgets on the first large call and keeps the fastest."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from audit.engine import CPU_CANDIDATES, Engine


def _engine(**kw):  # type: ignore[no-untyped-def]
    from audit.testing import minilm_tokenizer

    return Engine(minilm_tokenizer(), fingerprint="t", device=torch.device("cpu"), dtype=torch.float32, max_length=512, **kw)


def _rows(n: int = 1200) -> list[list[int]]:
    rng = np.random.default_rng(0)
    return [list(rng.integers(1000, 2000, size=int(k))) for k in rng.integers(8, 60, size=n)]


@pytest.mark.parametrize("per_call, per_row_squared, want", [(0.004, 0.0, max(CPU_CANDIDATES)), (0.0, 0.0002, 0)])
def test_trial_keeps_the_fastest_budget_and_the_order(per_call, per_row_squared, want):  # type: ignore[no-untyped-def]
    """Oracles: a forward whose cost is known (a fixed cost per call favours the biggest batches; a cost growing
    with rows² favours one text per pass), and the row sums computed directly for the order."""
    engine = _engine()
    ids = _rows()

    def forward(b):  # type: ignore[no-untyped-def]
        time.sleep(per_call + per_row_squared * len(b.lengths) ** 2)
        return [np.array(float(b.input_ids[r, :n].sum())) for r, n in enumerate(b.lengths)]

    out = engine.map("sum", ids, forward)
    assert [float(o) for o in out] == [float(sum(s)) for s in ids]
    assert engine.rows_budget == want and engine.stats.cpu_batch_tokens == want
    assert not engine.tune  # once per engine
    if want == 0:
        assert engine.stats.forward_calls > len(ids) // 2  # after the trials, every row in its own pass


def test_no_trial_when_the_user_fixed_the_batch_or_for_small_calls():  # type: ignore[no-untyped-def]
    assert not _engine(batch_size=8).tune and not _engine(token_budget=4096).tune
    engine = _engine()
    engine.map("sum", _rows(20), lambda b: [np.zeros(1) for _ in b.lengths])
    assert engine.tune and engine.rows_budget is None and engine.stats.cpu_batch_tokens is None


def test_tuned_engine_gives_the_same_probabilities(tiny_path):  # type: ignore[no-untyped-def]
    from audit.loading import load

    texts = [" ".join(["word"] * (5 + i % 50)) + f" {i}" for i in range(1300)]
    tuned = load(str(tiny_path("bert-classifier")), progress=False, use_cache=False)
    fixed = load(str(tiny_path("bert-classifier")), progress=False, use_cache=False, batch_size=1)
    a, b = tuned.class_probs(texts), fixed.class_probs(texts)
    assert tuned.engine.stats.cpu_batch_tokens in CPU_CANDIDATES
    np.testing.assert_allclose(a, b, atol=1e-5)
