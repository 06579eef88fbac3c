"""Paired regression gates: per-case values matched by id, checked against brute force and by simulation."""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audit.ci import baseline_gates, paired_change, regression, with_baseline
from audit.results import AuditResult, Metric, ModelInfo, ProbeResult, case_values
from audit.stats import bootstrap_ci

P = "custom.probe"
"""Not a registered probe: `audit gate` keeps its (no) gates, so only the baseline decides the exit code."""


def _exact_bootstrap(old: np.ndarray, new: np.ndarray, bad: Any) -> np.ndarray:
    """Every one of the n**n equally likely resamples of the cases, enumerated."""
    n = old.size
    idx = np.array(list(itertools.product(range(n), repeat=n)))
    return bad(new[idx].mean(axis=1)) - bad(old[idx].mean(axis=1))


@pytest.mark.parametrize("direction, bad", [
    ({"ideal": None, "higher_is_better": False}, lambda v: v),
    ({"ideal": None, "higher_is_better": True}, lambda v: -v),
    ({"ideal": 0.5, "higher_is_better": None}, lambda v: np.abs(v - 0.5)),  # not linear: the resample must be joint
])
def test_the_paired_interval_is_the_bootstrap_over_all_resamples(direction, bad):
    old = np.array([0.10, 0.55, 0.40, 0.90, 0.25, 0.70])
    new = np.array([0.20, 0.50, 0.55, 0.95, 0.30, 0.60])
    exact = _exact_bootstrap(old, new, bad)  # 6**6 = 46,656 resamples
    change, (low, high) = paired_change(old, new, direction["ideal"], direction["higher_is_better"], n_resamples=100_000)
    assert change == pytest.approx(float(bad(new.mean()) - bad(old.mean())))
    want_low, want_high = np.quantile(exact, [0.025, 0.975])
    assert low == pytest.approx(want_low, abs=0.006) and high == pytest.approx(want_high, abs=0.006)


def test_the_paired_interval_is_not_the_two_independent_ones():
    """Swapping which run a case's value belongs to only within a case keeps the paired interval; mixing
    cases (an unpaired resample) is what the two separate intervals describe, and it is far wider here."""
    rng = np.random.default_rng(1)
    hard = rng.normal(0.5, 0.2, 60)
    old, new = hard, hard + 0.01
    _, paired = paired_change(old, new, None, False)
    assert paired[1] - paired[0] < 1e-9  # every case moved by exactly 0.01: no uncertainty about the change
    lo_a, hi_a = bootstrap_ci(old)
    assert hi_a - lo_a > 0.05


INFO = ModelInfo(spec="tiny/bert", source="local", path="/models/tiny", task="text-classification",
                 architecture="BertForSequenceClassification", fingerprint="0123456789abcdef", parameters=1000,
                 dtype="float32", device="cpu", max_length=64, tokenizer="BertTokenizerFast", vocab_size=30522)


def _run(values: dict[str, float], *, ci: tuple[float, float] | None = None, per_case: bool = True,
         direction: dict[str, Any] | None = None, name: str = "flip_rate") -> AuditResult:
    direction = direction or {"higher_is_better": False}
    mean = float(np.mean(list(values.values())))
    if ci is None:
        ci = bootstrap_ci(list(values.values()))
    m = Metric(name, mean, ci, n=len(values), group="typo", **direction)
    probe = ProbeResult(P, "custom", "t", "h", metrics=(m,), params={"seed": 0},
                        per_case={m.key: case_values(list(values), list(values.values()))} if per_case else {})
    return AuditResult(model=INFO, probes=(probe,), environment={"seed": 0})


def _cases(values: np.ndarray) -> dict[str, float]:
    return {f"case-{i}": float(v) for i, v in enumerate(values)}


def test_a_shift_that_two_intervals_miss_is_caught_by_pairing():
    """Cases differ far more from each other than the model changes: every case's score rises by about 0.05
    (tolerance 0.02). Paired over the cases the regression is plain; from the two runs' own intervals it is
    lost in the spread between cases."""
    caught = missed_unpaired = 0
    draws = 100
    for seed in range(draws):
        rng = np.random.default_rng(seed)
        base = rng.uniform(0.0, 1.0, 80)
        now = np.clip(base + rng.normal(0.05, 0.01, 80), 0, 1)
        old, new = _run(_cases(base)), _run(_cases(now))
        (paired,) = baseline_gates(new, old, 0.02)
        old_u, new_u = _run(_cases(base), per_case=False), _run(_cases(now), per_case=False)
        (unpaired,) = baseline_gates(new_u, old_u, 0.02)
        assert "paired over 80 cases" in paired.reason and "unpaired" in unpaired.reason
        caught += paired.status == "fail"
        missed_unpaired += unpaired.status != "fail"
    assert caught == draws  # the paired rule fails every draw
    assert missed_unpaired >= 0.95 * draws  # the unpaired one almost never does (inconclusive instead)


def test_a_change_exactly_at_the_tolerance_rarely_passes():
    """Coverage: with a true change equal to the tolerance, the gate may pass only when its interval misses
    the truth on one side, at most 2.5% nominally; 300 draws, allowed up to 5% (bootstrap undercoverage at n=60)."""
    passes = 0
    draws = 300
    for seed in range(draws):
        rng = np.random.default_rng(10_000 + seed)
        base = rng.uniform(0.2, 0.8, 60)
        noise = rng.normal(0.0, 0.05, 60)
        now = base + 0.02 + noise  # the mean change is 0.02 in expectation
        _, (_, high) = paired_change(base, now, None, False, seed=seed)
        passes += high <= 0.02
    assert passes / draws <= 0.05


def test_identical_runs_pass_paired_but_not_by_their_intervals():
    cases = _cases(np.linspace(0.0, 1.0, 40))
    (gate,) = baseline_gates(_run(cases), _run(cases), 0.02)
    assert gate.status == "pass" and gate.value == 0 and gate.ci == (0.0, 0.0)
    assert "paired over 40 cases" in gate.reason
    (unpaired,) = baseline_gates(_run(cases, per_case=False), _run(cases, per_case=False), 0.02)
    assert unpaired.status == "inconclusive" and "unpaired: no per-case values" in unpaired.reason


def test_other_case_sets_are_not_comparable(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from audit.cli import main

    old = _cases(np.full(30, 0.1))
    new = dict(old)
    new["case-99"] = new.pop("case-0")  # same size, one case swapped
    a, b = _run(old), _run(new)
    (gate,) = baseline_gates(b, a, 0.5)  # even a huge tolerance does not make it a pass
    assert gate.status == "inconclusive"
    assert "not comparable: the case sets differ (1 cases only in the baseline, 1 only in this run)" in gate.reason
    pa, pb = a.save(tmp_path / "a.json"), b.save(tmp_path / "b.json")
    assert main(["compare", str(pa), str(pb), "-o", str(tmp_path / "d.html")]) == 4
    assert "not comparable: custom.probe flip_rate[typo]: the case sets differ" in capsys.readouterr().out
    assert main(["gate", str(pb), "--baseline", str(pa)]) == 4


def test_per_case_values_that_do_not_describe_the_metric_are_not_used():
    cases = _cases(np.linspace(0.0, 1.0, 40))
    a = _run(cases)
    bad = a.probes[0]
    wrong = ProbeResult(**{**bad.__dict__, "per_case": {"flip_rate[typo]": {k: v + 0.3 for k, v in cases.items()}}})
    b = AuditResult(**{**a.__dict__, "probes": (wrong,)})
    (gate,) = baseline_gates(b, a, 0.02)
    assert "unpaired: no per-case values" in gate.reason


def test_case_values_refuse_mismatched_lengths_and_number_repeats():
    with pytest.raises(ValueError, match="2 case ids for 1 values"):
        case_values(["a", "b"], [1.0])
    assert case_values(["a", "b", "a"], [1, 2, 3]) == {"a": 1.0, "b": 2.0, "a#2": 3.0}


def test_per_case_values_survive_results_json(tmp_path: Path):
    run = _run(_cases(np.linspace(0.0, 1.0, 12)))
    loaded = AuditResult.load(run.save(tmp_path / "r.json"))
    assert loaded.probes[0].per_case == run.probes[0].per_case
    assert loaded.schema_version == "1.1"


# --------------------------------------------------------------------- one rule in three commands


PAIRS = {  # name: (baseline per-case values, current per-case values, expected status)
    "regressed": (np.linspace(0.0, 0.5, 40), np.linspace(0.0, 0.5, 40) + 0.1, "regressed"),
    "improved": (np.linspace(0.2, 0.7, 40), np.linspace(0.2, 0.7, 40) - 0.1, "improved"),
    "unchanged": (np.linspace(0.2, 0.7, 40), np.linspace(0.2, 0.7, 40) + 0.005, "unchanged"),
    "inconclusive": (np.linspace(0.2, 0.7, 40), np.linspace(0.2, 0.7, 40) + np.tile([0.2, -0.16], 20), "inconclusive"),
}
EXIT = {"regressed": 1, "improved": 0, "unchanged": 0, "inconclusive": 4}
GATE = {"regressed": "fail", "improved": "pass", "unchanged": "pass", "inconclusive": "inconclusive"}


@pytest.mark.parametrize("name", list(PAIRS))
def test_baseline_gate_and_compare_agree_on_the_same_pair(name: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`audit run --baseline` (with_baseline), `audit gate --baseline` and `audit compare` on the same two runs."""
    from audit.cli import main
    from reports.compare import compare

    old, new, status = PAIRS[name]
    a, b = _run(_cases(old)), _run(_cases(new))
    m_a, m_b = a.probes[0].metrics[0], b.probes[0].metrics[0]
    found = regression(m_a, m_b, old_cases=a.probes[0].per_case[m_a.key], new_cases=b.probes[0].per_case[m_b.key])
    assert found.status == status, found
    (gate,) = with_baseline(b, a).probe("baseline").gates
    assert gate.status == GATE[status]
    (row,) = compare(a, b)
    assert row.status == status and row.change == found
    pa, pb = a.save(tmp_path / "a.json"), b.save(tmp_path / "b.json")
    assert main(["compare", str(pa), str(pb), "-o", str(tmp_path / "d.html")]) == EXIT[status]
    code = main(["gate", str(pb), "--baseline", str(pa)])
    assert code == EXIT[status], capsys.readouterr().out
