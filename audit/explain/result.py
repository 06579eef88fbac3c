"""Explanation results as frozen data: raw scores are kept, any scaling is named, everything is JSON-ready."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from audit.explain.contrast import Contrast
from audit.results import _clean

NORMALIZATION = "none: scores are raw attributions of the quantity; displays divide by the largest |word score| per example"


@dataclass(frozen=True)
class Attribution:
    """One method's scores for one example.

    ``delta`` is IG's convergence delta Σ attributions − (F(x) − F(x′)); ``relative_delta`` divides it by
    |F(x) − F(x′)|; ``converged`` is False when it stayed above the tolerance after raising ``n_steps``.
    """

    method: str
    token_scores: tuple[float, ...]
    word_scores: tuple[float, ...]
    delta: float | None = None
    relative_delta: float | None = None
    n_steps: int | None = None
    converged: bool | None = None
    faithfulness: dict[str, Any] = field(default_factory=dict)

    @property
    def scaled_word_scores(self) -> tuple[float, ...]:
        top = max((abs(s) for s in self.word_scores), default=0.0)
        return tuple(s / top if top > 0 else 0.0 for s in self.word_scores)


@dataclass(frozen=True)
class Explanation:
    """One text: its tokens and words, the target, the attributed quantity's value and each method's scores.

    ``value`` is F(x) and ``baseline_value`` F(x′) of the attributed quantity; ``pair`` is the
    counterfactual side, explained for the same target against the usual baseline; ``contrast`` attributes
    the gap F(x) − F(pair) (IG from the pair to the text), when the two are token-aligned.
    """

    text: str
    tokens: tuple[str, ...]
    words: tuple[str, ...]
    word_of_token: tuple[int | None, ...]
    target: str
    quantity: str
    value: float
    baseline_value: float
    prediction: dict[str, Any]
    attributions: tuple[Attribution, ...]
    truncated: str | None = None
    pair: Explanation | None = None
    contrast: Contrast | None = None

    @property
    def scores(self) -> tuple[float, ...]:
        """Word scores of the first method."""
        return self.attributions[0].word_scores

    @property
    def token_scores(self) -> tuple[float, ...]:
        return self.attributions[0].token_scores

    @property
    def delta(self) -> float | None:
        return self.attributions[0].delta

    def attribution(self, method: str) -> Attribution:
        for a in self.attributions:
            if a.method == method:
                return a
        raise KeyError(f"no {method!r} attribution; this explanation has {[a.method for a in self.attributions]}")

    def to_dict(self) -> dict[str, Any]:
        d = _clean(dataclasses.asdict(self))
        for a, ad in zip(self.attributions, d["attributions"]):
            ad["scaled_word_scores"] = list(a.scaled_word_scores)
        if self.pair is not None:
            d["pair"] = self.pair.to_dict()
        if self.contrast is not None:
            d["contrast"] = self.contrast.to_dict()
        return d


@dataclass(frozen=True)
class ExplanationSet:
    """Explanations of many texts by one or more methods, with set-level faithfulness and rank agreement."""

    model: str
    task: str
    methods: tuple[str, ...]
    quantity: str
    baseline: str
    examples: tuple[Explanation, ...]
    faithfulness: dict[str, Any] = field(default_factory=dict)
    rank_agreement: tuple[dict[str, Any], ...] = ()
    randomisation: dict[str, Any] = field(default_factory=dict)
    """The model-parameter randomisation check (audit.explain.sanity), when asked for."""
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    normalization: str = NORMALIZATION

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> Explanation:
        return self.examples[i]

    def to_dict(self) -> dict[str, Any]:
        d = _clean({k: getattr(self, k) for k in ("model", "task", "methods", "quantity", "baseline", "faithfulness",
                                                  "rank_agreement", "randomisation", "settings", "warnings", "seconds",
                                                  "normalization")})
        d["examples"] = [e.to_dict() for e in self.examples]
        return d
