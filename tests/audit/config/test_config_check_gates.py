"""After a run, a threshold written the wrong way round (min: on a lower-is-better metric, a share above
1) is an error that names where it was written, not a silently meaningless gate."""
from __future__ import annotations

import pytest

from audit.config import bound_problem, load_config
from audit.errors import AuditError
from audit.results import AuditResult, Metric, ModelInfo, ProbeResult

TP = "robustness.perturbation"
INFO = ModelInfo(spec="m", source="local", path="/m", task="text-classification", architecture="Bert", fingerprint="f" * 16,
                 parameters=1, dtype="float32", device="cpu", max_length=64, tokenizer="t", vocab_size=10)


def _result(*metrics: Metric) -> AuditResult:
    return AuditResult(model=INFO, probes=(ProbeResult(TP, "robustness", "t", "h", metrics=metrics),))


FLIP = Metric("flip_rate", 0.1, (0.05, 0.2), higher_is_better=False, n=24, group="typo", unit="share")
SIM = Metric("similarity", 0.9, (0.85, 0.95), higher_is_better=True, n=24, group="typo", unit="cosine")
STEREO = Metric("stereotype_score", 55.0, (50.0, 60.0), ideal=50.0, n=200, unit="%")


@pytest.mark.parametrize("metric, bound, value, words", [
    (FLIP, "min", 0.2, "lower flip_rate is better; write `max: 0.2`"),
    (SIM, "max", 0.8, "higher similarity is better; write `min: 0.8`"),
    (FLIP, "max", 20, "share between 0 and 1, got 20 (did you mean 0.2?)"),
    (FLIP, "value", -0.1, "share between 0 and 1, got -0.1"),
    (STEREO, "min", 5, "whose ideal is 50: its threshold bounds the distance from the ideal; write `max: 5`"),
    (STEREO, "max", -5, "cannot be negative"),
])
def test_contradictions_are_named(metric, bound, value, words):
    assert words in bound_problem(metric, bound, value)


@pytest.mark.parametrize("metric, bound, value", [
    (FLIP, "max", 0.2), (FLIP, "value", 0.2), (FLIP, "max", 0.0), (FLIP, "max", 1.0),
    (SIM, "min", 0.8), (SIM, "value", 0.8), (SIM, "min", -0.5),  # a cosine may be negative
    (STEREO, "max", 5), (STEREO, "value", 0),
])
def test_consistent_bounds_pass(metric, bound, value):
    assert bound_problem(metric, bound, value) is None


def test_check_gates_names_the_line_of_the_bad_threshold(write, monkeypatch):
    text = f"""
        probes: [{TP}]
        thresholds:
          {TP}:
            - {{metric: flip_rate, max: 0.2}}
            - {{metric: flip_rate, min: 0.05}}
        """
    # the probe declares its metrics, so the config is refused when it loads, before any model
    with pytest.raises(AuditError) as info:
        load_config(write("audit.yaml", text))
    assert str(info.value).startswith(f"audit.yaml:5: thresholds.{TP}.1.min: `min: 0.05` on flip_rate, but lower flip_rate is better")
    # a probe without declarations is still checked after the run, against the metrics it produced
    from probes.base import get_probe

    monkeypatch.setattr(get_probe(TP), "metric_specs", ())
    cfg = load_config(write("audit.yaml", text))
    with pytest.raises(AuditError) as info:
        cfg.check_gates(_result(FLIP))
    assert str(info.value).startswith(f"audit.yaml:5: thresholds.{TP}: `min: 0.05` on flip_rate[typo], but lower flip_rate is better")


def test_check_gates_accepts_a_consistent_config_and_ignores_probes_that_did_not_run(write):
    cfg = load_config(write("audit.yaml", f"probes: [{TP}]\nthresholds:\n  {TP}:\n    - {{metric: flip_rate, max: 0.2}}\n"))
    cfg.check_gates(_result(FLIP))
    cfg.check_gates(AuditResult(model=INFO, probes=()))
