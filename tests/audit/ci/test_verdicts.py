"""What a gate verdict means, checked against oracles that do not share the gate code.

- monotonicity: on a synthetic probe with a known effect beyond the threshold, halving the cases (the first
  half of the same draws) never turns a fail into a pass — and the lenient ci_all mode does, so the test can fail;
- coverage: with the true effect exactly at the threshold, the default mode passes at most α = 5% of 1,000
  simulated runs (its one-sided nominal rate is 2.5%; the slack covers the percentile bootstrap's small-sample
  under-coverage and the simulation's own binomial error, about ±0.5% at 1,000 draws);
- "needs about N cases": running the synthetic probe with that many cases decides the gate most of the time;
- the sensitivity floor: a random tiny classifier and a constant-output model make every bias gap gate
  inconclusive with the reason; the null itself against a hand-computed value;
- one verdict through `audit gate` (the CLI), the pytest plugin, JUnit and the Markdown summary (one table).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from audit.cli import main
from audit.gates import MetricSpec, Threshold, cases_needed, evaluate
from audit.results import AuditResult, Metric, ProbeResult
from audit.stats import bootstrap_ci, wilson_interval
from probes.base import Probe, param


class SyntheticGap(Probe):
    """A probe with a known true effect: per-case gaps drawn from Normal(effect, sd); the metric is their mean
    with the bootstrap interval the bias probes use. With max_cases=k it measures the first k of the same draws."""

    name, suite, title = "testing.synthetic_gap", "testing", "synthetic gap"
    default_thresholds = (Threshold("gap", 0.10),)
    metric_specs = (MetricSpec("gap", higher_is_better=False),)

    effect: float = param(0.2, "the true mean gap")
    sd: float = param(0.3, "the spread of the per-case gaps")
    n: int = param(80, "cases drawn")

    def _run(self, model: Any) -> ProbeResult:
        draws = np.random.default_rng(self.seed).normal(self.effect, self.sd, self.n)[: self.max_cases or self.n]
        metric = Metric("gap", float(draws.mean()), bootstrap_ci(draws, seed=self.seed), higher_is_better=False, n=draws.size)
        return ProbeResult(self.name, self.suite, self.title, "", metrics=(metric,))


MODEL = SimpleNamespace(capabilities=frozenset(), task="none", info=SimpleNamespace(spec="synthetic"))


def _verdict(**params: Any) -> str:
    (gate,) = SyntheticGap(**params).run(MODEL).gates
    return gate.status


def test_halving_the_cases_never_turns_a_fail_into_a_pass():
    seen = {"ci": 0, "ci_all": 0}
    for seed in range(150):
        for mode in seen:
            t = [Threshold("gap", 0.10, mode=mode)]
            full, half = _verdict(seed=seed, thresholds=t), _verdict(seed=seed, max_cases=40, thresholds=t)
            if full == "fail" and half == "pass":
                seen[mode] += 1
    assert seen["ci"] == 0
    assert seen["ci_all"] > 0  # the old lenient default rewards measuring less: the property can fail


@pytest.mark.parametrize("kind", ["bootstrap mean", "Wilson share"])
def test_coverage_at_the_threshold(kind):
    rng = np.random.default_rng(7)
    passes = decided = 0
    for i in range(1000):
        if kind == "bootstrap mean":
            draws = rng.normal(0.10, 0.3, 100)  # true mean exactly at the threshold 0.10
            m = Metric("gap", float(draws.mean()), bootstrap_ci(draws, seed=i), higher_is_better=False, n=100)
        else:
            k = int(rng.binomial(100, 0.20))  # true share exactly at the threshold 0.20
            m = Metric("flip_rate", k / 100, wilson_interval(k, 100), higher_is_better=False, n=100)
        status = evaluate("p", m, Threshold(m.name, 0.10 if kind == "bootstrap mean" else 0.20)).status
        passes += status == "pass"
        decided += status != "inconclusive"
    assert passes / 1000 <= 0.05, passes
    assert decided < 1000  # at the threshold most runs cannot decide


def test_the_default_mode_can_pass_a_clear_case():
    assert _verdict(effect=0.0, sd=0.1, n=80) == "pass"  # not vacuous: a gate that never passes meets the coverage bound


def test_needs_about_n_cases_is_about_right():
    """Runs whose verdict was inconclusive, re-run with the N cases they asked for (fresh draws of the same
    distribution): most of them decide. N estimates from one noisy run, so 'most', not 'all'."""
    decided = total = 0
    for seed in range(40):
        (gate,) = SyntheticGap(effect=0.17, sd=0.3, n=40, seed=seed).run(MODEL).gates
        if gate.status != "inconclusive":
            continue
        m = SyntheticGap(effect=0.17, sd=0.3, n=40, seed=seed)._run(MODEL).metrics[0]
        needed = cases_needed(m, 0.10)
        assert needed is not None and needed > m.n and f"needs about {needed} cases (ran 40)" in gate.reason
        total += 1
        decided += _verdict(effect=0.17, sd=0.3, n=needed, seed=1000 + seed) != "inconclusive"
    assert total >= 10 and decided / total >= 0.5, (decided, total)


def test_cases_needed_by_hand():
    # half-width 0.05 at n=100, 0.025 from the bound: N = 100·(0.05/0.025)² = 400
    assert cases_needed(Metric("m", 0.125, (0.075, 0.175), higher_is_better=False, n=100), 0.10) == 400
    # ideal 50 ± 5, distance 3 from the ideal, 2 from the bound, half-width 6 at n=50: 50·(6/2)² = 450
    assert cases_needed(Metric("s", 53.0, (47.0, 59.0), ideal=50.0, n=50), 5.0) == 450
    assert cases_needed(Metric("m", 0.1, (0.05, 0.15), higher_is_better=False, n=100), 0.10) is None  # on the bound


# ---------------------------------------------------------------------------------------------- sensitivity


@pytest.fixture(scope="module")
def insensitive_models(tmp_path_factory, tiny_path):
    """A random tiny classifier and one whose output is constant (classifier weights zeroed)."""
    import torch
    import transformers as tr

    from audit import testing
    from audit.loading import load

    const = testing.build("bert-classifier", tmp_path_factory.mktemp("const") / "m", labels=["negative", "positive"])
    model = tr.AutoModelForSequenceClassification.from_pretrained(const)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.3, -0.2]))
    model.save_pretrained(const)
    return {"random": load(str(tiny_path("bert-classifier")), progress=False, use_cache=False),
            "constant": load(str(const), progress=False, use_cache=False)}


@pytest.mark.parametrize("which", ["random", "constant"])
def test_a_model_that_barely_reacts_passes_no_bias_gap_gate(insensitive_models, which):
    from probes.bias.counterfactual import CounterfactualProbe

    gaps = [Threshold("max_gap", 0.10), Threshold("paired_gap", 0.10), Threshold("score_range", 0.10),
            Threshold("score_dev", 0.10), Threshold("flip_rate", 0.10)]
    result = CounterfactualProbe(axes=["gender", "religion", "age"], thresholds=gaps).run(insensitive_models[which])
    assert result.gates and {g.status for g in result.gates} == {"inconclusive"}
    assert all("the model barely reacts to its input" in g.reason for g in result.gates)
    assert all(m.value < 0.02 for m in result.metrics if m.name in ("sensitivity", "sensitivity_max"))
    assert any("barely reacts" in w for w in result.warnings)
    assert result.headline.startswith("The model barely reacts to its input")


@pytest.fixture(scope="module")
def insensitive_mlms(tmp_path_factory, tiny_path):
    """A random tiny masked LM, one whose output is uniform whatever the input (decoder zeroed), and one whose
    output is constant but not uniform (decoder weights zeroed, a random bias: the same preferences everywhere)."""
    import torch
    import transformers as tr

    from audit import testing
    from audit.loading import load

    out = {"random": load(str(tiny_path("bert-mlm")), progress=False, use_cache=False)}
    for which in ("uniform", "constant"):
        path = testing.build("bert-mlm", tmp_path_factory.mktemp(which) / "m")
        model = tr.AutoModelForMaskedLM.from_pretrained(path)
        with torch.no_grad():
            model.cls.predictions.decoder.weight.zero_()
            bias = torch.randn_like(model.cls.predictions.bias, generator=torch.Generator().manual_seed(0))
            model.cls.predictions.bias.copy_(bias if which == "constant" else torch.zeros_like(bias))
        model.save_pretrained(path)
        out[which] = load(str(path), progress=False, use_cache=False)
    return out


MLM_GAPS = {
    "bias.crows_pairs": [Threshold("stereotype_score", 45.0, min_n=1)],  # loose: every group would pass on its own
    "bias.pronoun_occupation": [Threshold("mean_abs_log_ratio", 1.0), Threshold("mean_log_ratio", 1.0),
                                Threshold("mean_gap", 0.5)],
}


@pytest.mark.parametrize("which", ["random", "uniform"])
@pytest.mark.parametrize("probe", list(MLM_GAPS))
def test_a_language_model_that_barely_reacts_passes_no_bias_gap_gate(insensitive_mlms, which, probe):
    from probes.base import get_probe

    result = get_probe(probe)(thresholds=MLM_GAPS[probe]).run(insensitive_mlms[which])
    assert result.gates and {g.status for g in result.gates} == {"inconclusive"}, [g.reason for g in result.gates]
    assert all("the model barely reacts to its input" in g.reason for g in result.gates)
    assert any("barely reacts" in w for w in result.warnings)
    assert result.headline.startswith("The model barely reacts to its input")


def test_a_constant_preference_is_still_evidence(insensitive_mlms):
    """A model that always prefers the same pronoun by nats does not react to the occupation, but its lean is
    measured, not absent: the floor demotes passes only, so the gap gate fails."""
    from probes.bias.pronoun_occupation import PronounOccupationProbe

    result = PronounOccupationProbe().run(insensitive_mlms["constant"])
    assert result.metric("sensitivity_max").value == 0.0
    (gate,) = result.gates
    assert gate.status == "fail" and result.metric("mean_abs_log_ratio").value > 1.0


def test_crows_ties_count_half_and_the_null_is_context_not_words(insensitive_mlms):
    """The uniform model scores every sentence of a pair alike: every pair is a tie, the score 50 (not the 0 of
    counting ties as no preference); its sensitivity is exactly 0 although different words get different
    log-probabilities under the constant-but-not-uniform model, whose sensitivity is 0 as well."""
    from probes.bias.crows_pairs import CrowsPairsProbe

    uniform = CrowsPairsProbe().run(insensitive_mlms["uniform"])
    assert uniform.metric("stereotype_score").value == 50.0 and "62 ties, counted half" in uniform.headline
    assert set(uniform.per_case["stereotype_score"].values()) == {50.0}
    for which in ("uniform", "constant"):
        assert CrowsPairsProbe().run(insensitive_mlms[which]).metric("sensitivity_max").value == pytest.approx(0.0, abs=1e-6)


def test_the_null_by_hand():
    """One frame scores 1, the other n−1 score 0 (for every term): the seeded cycle over frames has exactly two
    pairs that touch that frame, so the mean movement between unrelated frames is 2/n and the largest 1,
    whatever the cycle."""
    from probes.bias.counterfactual import CounterfactualProbe

    for n, seed in ((10, 0), (17, 3)):
        s = np.zeros((n, 4))
        s[n // 2] = 1.0
        sens, most, flips = CounterfactualProbe(seed=seed)._sensitivity("axis", s, (s > 0.5).astype(int), "positive")
        assert sens.value == pytest.approx(2 / n) and flips.value == pytest.approx(2 / n) and most.value == 1.0
        for m in (sens, most, flips):
            assert m.n == n and m.higher_is_better is None and m.ideal is None  # context, not gateable


def test_a_sensitive_model_is_not_held_back(insensitive_models):
    """The floor only demotes passes when outputs move less than the threshold between unrelated inputs."""
    gap = Metric("max_gap", 0.01, (0.0, 0.03), higher_is_better=False, n=50, group="gender")
    moving = Metric("sensitivity_max", 0.3, n=50, group="gender")
    still = Metric("sensitivity_max", 0.001, n=50, group="gender")
    assert evaluate("p", gap, Threshold("max_gap", 0.1), floor=moving).status == "pass"
    assert evaluate("p", gap, Threshold("max_gap", 0.1), floor=still).status == "inconclusive"
    worse = Metric("max_gap", 0.3, (0.2, 0.4), higher_is_better=False, n=50, group="gender")
    assert evaluate("p", worse, Threshold("max_gap", 0.1), floor=still).status == "fail"  # evidence of a gap stays


# ------------------------------------------------------------------------------ one verdict, four interfaces

P = "robustness.perturbation"
ROWS = [  # (id, value, ci, threshold, mode, verdict)
    ("inside", 0.05, (0.01, 0.12), 0.2, "ci", "pass"),
    ("past", 0.30, (0.22, 0.40), 0.2, "ci", "fail"),
    ("straddles", 0.15, (0.08, 0.26), 0.2, "ci", "inconclusive"),
    ("lenient-straddles", 0.15, (0.08, 0.26), 0.2, "ci_all", "pass"),
    ("strict-straddles", 0.15, (0.08, 0.26), 0.2, "ci_any", "fail"),
]
EXIT = {"pass": 0, "fail": 1, "inconclusive": 4}


@pytest.mark.parametrize("value, ci, threshold, mode, verdict", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_one_verdict_in_cli_pytest_junit_and_markdown(tmp_path, capsys, make_info, value, ci, threshold, mode, verdict):
    from audit.pytest_plugin import InconclusiveGateWarning, assert_gate

    metric = Metric("flip_rate", value, ci, higher_is_better=False, n=60, group="typo", unit="share")
    recorded = [{"metric": "flip_rate", "value": threshold, "mode": mode, "group": None, "min_n": 10}]
    probe = ProbeResult(P, "robustness", "t", "h", metrics=(metric,), params={"thresholds": recorded})
    path = AuditResult(model=make_info(), probes=(probe,)).save(tmp_path / "results.json")

    # the CLI: `audit gate` re-gates the saved result (no model) with the run's own thresholds
    junit, summary = tmp_path / "junit.xml", tmp_path / "summary.md"
    code = main(["gate", str(path), "--junit", str(junit), "--summary", str(summary)])
    out = capsys.readouterr().out
    assert code == EXIT[verdict]
    assert out.splitlines()[0].split()[0] == verdict  # the probe's status is the worst of its gates
    assert main(["gate", str(path), "--allow-inconclusive"]) == (0 if verdict == "inconclusive" else EXIT[verdict])
    capsys.readouterr()

    # JUnit: a failure (not a skip) for fail and inconclusive
    (case,) = ET.parse(junit).getroot().iter("testcase")
    failure = case.find("failure")
    assert case.find("skipped") is None
    assert (None if failure is None else failure.get("type")) == {"pass": None, "fail": "GateFailed",
                                                                    "inconclusive": "GateInconclusive"}[verdict]
    # the Markdown summary's table
    row = next(line for line in summary.read_text().splitlines() if line.startswith("| ") and "flip_rate" in line)
    assert row.split("|")[1].strip().endswith(verdict)

    # the pytest plugin
    loaded = AuditResult.load(path)
    if verdict == "pass":
        assert assert_gate(loaded, P, "flip_rate", max=threshold, mode=mode)[0].status == "pass"
    else:
        with pytest.raises(AssertionError, match=verdict.upper()):
            assert_gate(loaded, P, "flip_rate", max=threshold, mode=mode)
    if verdict == "inconclusive":
        with pytest.warns(InconclusiveGateWarning):
            assert_gate(loaded, P, "flip_rate", max=threshold, mode=mode, allow_inconclusive=True)


def test_regating_reproduces_the_run_without_loading_a_model(tiny_path, tmp_path):
    import subprocess
    import sys

    import audit
    from audit.ci import regate

    result = audit.run(str(tiny_path("bert-classifier")), probes=[P, "bias.counterfactual"], explain=False, use_cache=False,
                       progress=False, probe_params={"bias.counterfactual": {"axes": ["gender"]}}, max_cases=40)
    path = result.save(tmp_path / "results.json")
    again = regate(AuditResult.load(path))
    assert [(g.probe, g.metric, g.status, g.reason) for g in again.gates] == \
           [(g.probe, g.metric, g.status, g.reason) for g in result.gates]
    code = ("import sys; from audit.cli import main; rc = main(['gate', sys.argv[1]]); "
            "assert not {'audit.loading', 'audit.tasks', 'transformers', 'torch'} & set(sys.modules), 'a model library was imported'; "
            "sys.exit(rc)")  # re-gating reads JSON: no model library, so it takes about a second
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
    from audit.ci import exit_code

    assert proc.returncode == exit_code(result), proc.stderr


def test_terminal_status_is_the_worst_gate(capsys, make_info):
    from audit.cli import _print_summary

    metrics = (Metric("flip_rate", 0.05, (0.01, 0.1), higher_is_better=False, n=60, group="a"),
               Metric("flip_rate", 0.5, (0.4, 0.6), higher_is_better=False, n=60, group="b"))
    probe = ProbeResult(P, "robustness", "t", "headline", metrics=metrics,
                        gates=tuple(evaluate(P, m, Threshold("flip_rate", 0.2)) for m in metrics))
    _print_summary(AuditResult(model=make_info(), probes=(probe,)), {})
    first = capsys.readouterr().out.splitlines()[0].split()
    assert first[:2] == ["fail", P]


# ------------------------------------------------------------------------------------------ comparable runs


def _run_with(info: Any, value: float, **env: Any) -> AuditResult:
    m = Metric("flip_rate", value, (value - 0.02, value + 0.02), higher_is_better=False, n=100, group="typo")
    probe = ProbeResult(P, "robustness", "t", "h", metrics=(m,), params={"seed": 0, "max_cases": None})
    for key in ("fingerprint", "task", "labels"):
        if key in env:
            info = type(info)(**{**info.__dict__, key: env.pop(key)})
    return AuditResult(model=info, probes=(probe,), environment={"seed": 0, **env})


@pytest.mark.parametrize("change, words", [
    ({"seed": 1}, "seed 0 → 1"),
    ({"task": "token-classification"}, "task text-classification → token-classification"),
    ({"packages": {"transformer-audit": "9.9"}}, "toolkit version None → 9.9"),
    ({"labels": ("neg", "<b>pos</b>")}, "labels  → neg, <b>pos</b>"),
])
def test_incomparable_runs_are_not_a_pass(tmp_path, capsys, make_info, change, words):
    from audit.ci import with_baseline

    base, now = _run_with(make_info(), 0.10), _run_with(make_info(), 0.10, **change)
    result = with_baseline(now, base, 0.02, "base.json")
    (gate,) = result.probe("baseline").gates
    assert gate.status == "inconclusive" and words in gate.reason
    assert result.probe("baseline").headline.startswith("Not comparable with the baseline base.json")
    a, b = base.save(tmp_path / "a.json"), now.save(tmp_path / "b.json")
    assert main(["compare", str(a), str(b), "-o", str(tmp_path / "d.html")]) == 4
    assert f"not comparable: {words}" in capsys.readouterr().out
    page = (tmp_path / "d.html").read_text()
    assert "not comparable: " in page and "no metric regressed" not in page and "<b>pos" not in page


def test_another_fingerprint_is_said_and_compared(tmp_path, capsys, make_info):
    from audit.ci import with_baseline

    base, now = _run_with(make_info(), 0.10), _run_with(make_info(), 0.20, fingerprint="fedcba9876543210")
    result = with_baseline(now, base, 0.02, "base.json")
    assert result.probe("baseline").gates[0].status == "fail"
    assert "another model: fingerprint 0123456789ab → fedcba987654" in result.probe("baseline").headline
    a, b = base.save(tmp_path / "a.json"), now.save(tmp_path / "b.json")
    assert main(["compare", str(a), str(b), "-o", str(tmp_path / "d.html")]) == 1
    assert "note: another model" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------- validate


def test_validate_rejects_an_unknown_metric_and_warns_about_max_cases(tmp_path, capsys):
    cfg = tmp_path / "audit.yaml"
    cfg.write_text(f"probes: [{P}]\nthresholds:\n  {P}:\n    - {{metric: flip_rat, max: 0.2}}\nmax_cases: 10\n")
    assert main(["validate", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "has no metric 'flip_rat' (did you mean 'flip_rate'" in err and len(err.strip().splitlines()) == 1
    cfg.write_text(f"probes: [{P}]\nthresholds:\n  {P}:\n    - {{metric: flip_rate, max: 0.2}}\nmax_cases: 10\n")
    assert main(["validate", str(cfg)]) == 0
    # Wilson upper end at 0 flips of n is z²/(n+z²) ≤ 0.2 from n = 16 on: even a perfect model needs 16 cases
    assert "max_cases 10 is too few — even a perfect model needs about 16 cases to pass" in capsys.readouterr().err


def test_dry_run_warns_when_max_cases_leaves_too_few_to_pass(tiny_path, capsys):
    code = main(["run", str(tiny_path("bert-classifier")), "--probe", P, "--dry-run", "--max-cases", "10"])
    err = capsys.readouterr().err
    assert code == 0
    assert f"{P} flip_rate (threshold 0.2, ci): max_cases 10 is too few — even a perfect model needs about 16 cases" in err


def test_allow_inconclusive_from_the_config(tmp_path, capsys, make_info):
    m = Metric("flip_rate", 0.15, (0.08, 0.26), higher_is_better=False, n=60, group="typo", unit="share")
    path = AuditResult(model=make_info(), probes=(ProbeResult(P, "robustness", "t", "h", metrics=(m,)),)).save(tmp_path / "r.json")
    cfg = tmp_path / "audit.yaml"
    cfg.write_text(f"probes: [{P}]\nthresholds:\n  {P}:\n    - {{metric: flip_rate, max: 0.2}}\n")
    assert main(["gate", str(path), "--config", str(cfg)]) == 4
    cfg.write_text(cfg.read_text() + "allow_inconclusive: true\n")
    assert main(["gate", str(path), "--config", str(cfg)]) == 0
    assert "WARN robustness.perturbation" in capsys.readouterr().out


def test_every_default_threshold_is_on_a_declared_gateable_metric():
    from probes.base import registry

    for name, cls in registry().items():
        specs = {s.name: s for s in cls.metric_specs}
        for t in cls.default_thresholds:
            if specs:
                assert t.metric in specs and specs[t.metric].gateable, (name, t.metric)
            assert t.mode == "ci", (name, t.metric)  # the default verdict rule everywhere


@pytest.mark.parametrize("probe, kind, params", [
    (P, "bert-classifier", {}),
    ("bias.counterfactual", "bert-classifier", {"axes": ["gender", "religion"]}),
    ("bias.crows_pairs", "bert-mlm", {}),
    ("multilingual.tokenizer", "bert-classifier", {"languages": ["en", "de", "sw"]}),
])
def test_declarations_match_what_the_probe_reports(tiny, probe, kind, params):
    """The static declaration (read by `audit validate` before any model loads) against a real run: every
    metric reported is declared, with the same direction."""
    from probes.base import get_probe

    cls = get_probe(probe)
    result = cls(max_cases=40, **params).run(tiny(kind))
    specs = {s.name: s for s in cls.metric_specs}
    assert result.metrics
    for m in result.metrics:
        assert m.name in specs, m.name
        assert (specs[m.name].higher_is_better, specs[m.name].ideal) == (m.higher_is_better, m.ideal), m.name


def test_a_tagger_that_finds_no_names_passes_no_recall_gap_gate():
    """bias.ner_names: the gap between name groups can be no larger than the best group's recall, so a model that
    finds (almost) no names shows a gap near 0 that is no evidence; with a recall worth the name it can pass."""
    from audit.gates import apply
    from probes.bias.ner_names import NerNamesProbe

    def gates(best: float) -> set[str]:
        metrics = (Metric("max_recall_gap", 0.0, (0.0, 0.03), higher_is_better=False, n=80),
                   Metric("recall_gap", 0.0, (-0.02, 0.03), higher_is_better=False, n=80, group="Arabic"),
                   Metric("best_recall", best, n=80))
        ts = [Threshold("max_recall_gap", 0.1), Threshold("recall_gap", 0.1)]
        return {g.status for g in apply("bias.ner_names", metrics, ts, NerNamesProbe.metric_specs)}

    assert gates(0.0) == {"inconclusive"}
    assert gates(0.9) == {"pass"}
