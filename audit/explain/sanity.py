"""Model-parameter randomisation check (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

An explanation that explains the *model* must change when what the model learned is destroyed. A copy of the
model has its top layer re-initialised (the task head — classifier, QA or LM head — or, for a bare encoder
and for a head tied to the input embeddings, the last transformer block); the same examples are attributed
for the same targets, and Spearman's ρ between the trained and the randomised word scores is reported per
example and as a mean with a bootstrap 95% interval. ρ near 1: the explanation barely depends on the
re-initialised layer, so it says little about what that layer learned; ρ near 0 is what a sound method shows.

Opt-in (it deep-copies the model and runs IG a second time). The zero-shot head keeps the trained label
centroids (the decision's reference points), so only the text's path through the network is randomised.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from scipy.stats import spearmanr

from audit.errors import AuditError
from audit.explain.targets import Head
from audit.stats import bootstrap_ci
from audit.tasks import explanation_head

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel


def top_layer(model: PreTrainedModel) -> tuple[str, list[torch.nn.Module]]:
    """The name(s) and modules re-initialised: the task head's modules, else the last transformer block."""
    base = getattr(model, "base_model", model)
    tied = {id(p) for p in model.get_input_embeddings().parameters()}
    if base is not model:
        heads = [(n, c) for n, c in model.named_children()
                 if c is not base and any(True for _ in c.parameters()) and not any(id(p) in tied for p in c.parameters())]
        if heads:
            return ", ".join(n for n, _ in heads), [c for _, c in heads]
    blocks = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.ModuleList) and len(m)]
    if not blocks:
        raise AuditError(f"the randomisation check needs a task head or a list of layers to re-initialise; "
                         f"{type(model).__name__} has neither")
    name, layers = blocks[-1]
    return f"{name}.{len(layers) - 1}", [layers[-1]]


def randomised_head(head: Head, seed: int) -> tuple[Head, str]:
    """A head over a copy of the model whose top layer is re-initialised (reset_parameters, seeded)."""
    model = copy.deepcopy(head.model)
    name, modules = top_layer(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for top in modules:
            for m in top.modules():
                reset = getattr(m, "reset_parameters", None)
                if callable(reset):
                    reset()
    adapter = copy.copy(head.adapter)
    adapter.model = model
    return explanation_head(adapter), name


def rank_correlations(trained: Sequence[Sequence[float]], randomised: Sequence[Sequence[float]],
                      seed: int = 0) -> dict[str, Any]:
    """Spearman's ρ per example (examples with fewer than 2 words or constant scores are skipped) and the mean."""
    rhos = [float(spearmanr(a, b).statistic) if len(a) >= 2 and np.ptp(a) > 0 and np.ptp(b) > 0 else None
            for a, b in zip(trained, randomised)]
    vals = np.array([r for r in rhos if r is not None])
    return {"spearman": rhos, "mean": float(vals.mean()) if len(vals) else None,
            "ci": list(bootstrap_ci(vals, seed=seed)) if len(vals) > 1 else None, "n": len(vals)}


def check(head: Head, word_scores: Sequence[Sequence[float]],
          attribute: Callable[[Head], Sequence[Sequence[float]]], seed: int = 0) -> dict[str, Any]:
    """Re-initialise the top layer, attribute again with ``attribute(randomised_head)``, compare the rankings."""
    rand_head, name = randomised_head(head, seed)
    rand_scores = attribute(rand_head)
    out = rank_correlations(word_scores, rand_scores, seed=seed)
    return {"layer": name, "seed": seed, **out, "randomised_word_scores": [list(map(float, s)) for s in rand_scores],
            "reading": "Spearman ρ between the trained and the randomised model's word attributions; near 1 = the "
                       "explanation barely depends on the re-initialised layer (fails the check), near 0 = it does"}
