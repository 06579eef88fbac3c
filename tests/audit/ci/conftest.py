"""Hand-built results: gates and metrics whose verdicts are known, without running a model."""
from __future__ import annotations

import pytest

from audit.gates import Threshold, apply
from audit.results import AuditResult, Metric, ModelInfo, ProbeResult


def model_info(spec: str = "tiny/bert") -> ModelInfo:
    return ModelInfo(spec=spec, source="local", path=f"/models/{spec}", task="text-classification",
                     architecture="BertForSequenceClassification", fingerprint="0123456789abcdef0123", parameters=1000,
                     dtype="float32", device="cpu", max_length=64, tokenizer="BertTokenizerFast", vocab_size=30522)


def probe_result(name: str, metrics: tuple[Metric, ...], thresholds: list[Threshold] = (), **kwargs) -> ProbeResult:
    return ProbeResult(probe=name, suite=name.split(".")[0], title=name, headline=kwargs.pop("headline", f"{name} headline"),
                       metrics=metrics, gates=apply(name, metrics, list(thresholds)), **kwargs)


@pytest.fixture
def make_probe():
    """make_probe(name, metrics, thresholds=(), **fields) -> ProbeResult with its gates applied."""
    return probe_result


@pytest.fixture
def make_info():
    """make_info(spec="tiny/bert") -> ModelInfo."""
    return model_info


@pytest.fixture
def mixed_result() -> AuditResult:
    """Four gates with known outcomes: one pass, one fail, one inconclusive (n=4), one fail on an ideal metric."""
    robust = probe_result(
        "robustness.perturbation",
        (Metric("flip_rate", 0.05, (0.01, 0.12), higher_is_better=False, n=40, group="typo", unit="share"),
         Metric("flip_rate", 0.30, (0.22, 0.40), higher_is_better=False, n=40, group="case", unit="share")),
        [Threshold("flip_rate", 0.2, mode="ci_all")],
        headline="The label flips for 30% of sentences under the 'case' edit.",
        seconds=1.5,
    )
    bias = probe_result(
        "bias.crows",
        (Metric("stereotype_score", 61.0, (56.0, 66.0), ideal=50.0, n=200, unit="%"),
         Metric("effect", 0.4, (0.1, 0.9), higher_is_better=False, n=4)),
        [Threshold("stereotype_score", 5.0, mode="ci_all"), Threshold("effect", 0.5)],
        headline="The model prefers the stereotyping sentence in 61% of pairs.",
    )
    skipped = ProbeResult(probe="long_input.needle", suite="long_input", title="needle", status="skipped",
                          headline="Skipped: needs token_scores, which a text-classification model does not offer.")
    return AuditResult(model=model_info(), probes=(robust, bias, skipped), timings={"total": 12.5})
