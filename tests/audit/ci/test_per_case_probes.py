"""Per-case values that probes record for paired baselines: they describe their metric (their mean is its
value, one per case counted in n), and a run compared with its own rerun passes paired where the two
intervals alone could not decide."""
from __future__ import annotations

from pathlib import Path

import pytest

from audit.results import AuditResult, ProbeResult


def check_per_case(result: ProbeResult) -> None:
    """Every per-case entry belongs to a metric of the probe, averages to its value and counts its n cases."""
    metrics = {m.key: m for m in result.metrics}
    assert result.per_case, f"{result.probe} records no per-case values"
    for key, cases in result.per_case.items():
        m = metrics[key]
        mean = sum(cases.values()) / len(cases)
        assert mean == pytest.approx(m.value, abs=1e-6), (result.probe, key)
        assert len(cases) == m.n, (result.probe, key)


@pytest.mark.parametrize("kind, probe", [
    ("bert-classifier", "robustness.perturbation"),
    ("bert-mlm", "bias.crows_pairs"),
    ("bert-mlm", "bias.pronoun_occupation"),
])
def test_per_case_values_describe_their_metrics(tiny_path, kind: str, probe: str) -> None:
    from audit.loading import load
    from probes.base import get_probe

    model = load(str(tiny_path(kind)), progress=False, use_cache=False)
    check_per_case(get_probe(probe)(max_cases=40).run(model))


def test_a_rerun_passes_its_baseline_paired(tiny_path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from audit.ci import baseline_gates
    from audit.cli import main

    model = str(tiny_path("bert-classifier"))
    args = ["run", model, "--probe", "bias.counterfactual", "--no-explain", "--no-cache", "--quiet", "--max-cases"]
    main([*args, "200", "--out", str(tmp_path / "a")])
    main([*args, "200", "--out", str(tmp_path / "b")])
    a, b = (AuditResult.load(tmp_path / d / "results.json") for d in ("a", "b"))
    check_per_case(a.probe("bias.counterfactual"))
    gates = baseline_gates(b, a, 0.02)
    assert gates and all(g.status == "pass" and "; paired over " in g.reason for g in gates), [g.reason for g in gates]
    stripped = [AuditResult(**{**r.__dict__, "probes": tuple(ProbeResult(**{**p.__dict__, "per_case": {}})
                                                             for p in r.probes)}) for r in (a, b)]
    unpaired = baseline_gates(stripped[1], stripped[0], 0.02)
    assert any(g.status == "inconclusive" for g in unpaired)  # the same figures, but two intervals cannot tell
    # another case set (fewer cases): not comparable, never a pass
    main([*args, "100", "--out", str(tmp_path / "c")])
    c = AuditResult.load(tmp_path / "c" / "results.json")
    assert all(g.status == "inconclusive" and "not comparable" in g.reason for g in baseline_gates(c, a, 0.02))
