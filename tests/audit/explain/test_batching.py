"""Chunking and weight freezing: the plumbing that makes explanations batched must not change them."""
from __future__ import annotations

import itertools

import pytest
import torch

from audit.explain import explain
from audit.explain.batching import Budget
from audit.explain.methods import frozen_parameters

CPU, GPU = torch.device("cpu"), torch.device("cuda")  # only .type is read: no GPU needed


def test_chunks_bound_padding_and_restore_order():
    lengths = [8, 15, 9, 13, 11, 15, 10, 8, 13, 9]
    seen: list[list[int]] = []

    def work(chunk: list[int], rows: int) -> list[int]:
        seen.append(chunk)
        return [lengths[i] * 100 + i for i in chunk]

    out = Budget(4096, CPU).run_chunks(lengths, work)
    assert out == [n * 100 + i for i, n in enumerate(lengths)]  # original order
    assert sorted(itertools.chain(*seen)) == list(range(len(lengths)))  # each example exactly once
    for chunk in seen:  # brute force: no row is padded by more than 25% of its length
        longest = max(lengths[i] for i in chunk)
        assert all(lengths[i] * 1.25 >= longest for i in chunk)
    assert len(seen) == 3  # 15,15,13,13 | 11,10,9,9 | 8,8
    one = Budget(4096, GPU).run_chunks(lengths, work)  # a GPU's budget has no bound: one chunk under the token budget
    assert one == out and len(seen) == 4


def test_token_budget_still_caps_rows_per_chunk():
    sizes: list[int] = []
    Budget(64, CPU).run_chunks([8] * 20, lambda c, r: sizes.append(len(c)) or [0] * len(c))
    assert sizes == [8, 8, 4]


def test_frozen_parameters_restores_flags_even_on_error():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 1))
    model[0].bias.requires_grad_(False)  # a user's own frozen parameter stays frozen
    before = [p.requires_grad for p in model.parameters()]
    with pytest.raises(RuntimeError), frozen_parameters(model):
        assert not any(p.requires_grad for p in model.parameters())
        raise RuntimeError("boom")
    assert [p.requires_grad for p in model.parameters()] == before


def test_explain_leaves_the_model_trainable_and_cpu_chunks_give_the_same_attributions(tiny):
    m = tiny("bert-classifier")
    texts = ["a b", "one two three four five six seven eight nine ten eleven twelve", "x y z", "some words here"]
    flags = [p.requires_grad for p in m.model.parameters()]
    bounded = explain(m, texts, n_steps=8, faithfulness=False, completeness_tol=10)
    assert [p.requires_grad for p in m.model.parameters()] == flags
    alone = [explain(m, [t], n_steps=8, faithfulness=False, completeness_tol=10).examples[0] for t in texts]
    for a, b in zip(bounded.examples, alone):  # batching with padding and chunking must not change the scores
        assert torch.allclose(torch.tensor(a.token_scores), torch.tensor(b.token_scores), atol=1e-5, rtol=1e-4)
