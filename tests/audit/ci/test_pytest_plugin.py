"""The pytest plugin, driven through pytester on a tiny real model: options, fixtures, parametrising over
probes, inconclusive gates, a failing gate whose message reads like a finding, and examples/test_model_gates.py.

The inner session runs once, in a subprocess (torch and transformers do not survive pytester's
in-process module clean-up), with entry points off so the plugin loads the same way before and after it
is installed; the outer test then reads its report.
"""
from __future__ import annotations

import os
from pathlib import Path

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[3]
P = "robustness.perturbation"

INNER = f"""
from probes import base
from audit.pytest_plugin import assert_gate, parametrize_probes


def test_model_fixture_and_options(audited_model, pytestconfig):
    assert audited_model.task == "text-classification"
    assert pytestconfig.getoption("--audit-max-cases") == 30


@parametrize_probes(["{P}"])
def test_loose_gate(audit_run, probe_name):
    gates = assert_gate(audit_run(probe_name), probe_name, "flip_rate", max=1.0)
    assert len(gates) == 4 and all(g.status == "pass" for g in gates)


@parametrize_probes(suites=["robustness"])
def test_impossible_gate(audit_run, probe_name):
    # the upper end of a Wilson interval on 24 sentences is above 0 whatever the model does
    assert_gate(audit_run(probe_name), probe_name, "flip_rate", max=0.0, mode="ci_any", group="typo")


def test_too_few_strict(audit_run):
    assert_gate(audit_run("{P}", max_cases=5), "{P}", "flip_rate", max=1.0)


def test_too_few_allowed(audit_run):
    assert_gate(audit_run("{P}", max_cases=5), "{P}", "flip_rate", max=1.0, allow_inconclusive=True)


class NeedsMasks(base.Probe):
    name, suite, requires = "testing.masks", "testing", frozenset({{"mask_fill"}})


def test_unservable_probe(audit_run, monkeypatch):
    monkeypatch.setitem(base._REGISTRY, NeedsMasks.name, NeedsMasks)
    assert_gate(audit_run("testing.masks"), "testing.masks", "x", max=1)
"""


def test_the_plugin_in_a_real_session(pytester, tiny_path, monkeypatch, tmp_path):
    model = tiny_path("bert-classifier")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("TRANSFORMER_AUDIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makepyfile(test_inner=INNER, test_example=(ROOT / "examples" / "test_model_gates.py").read_text())
    result = pytester.runpytest_subprocess("-p", "audit.pytest_plugin", "--audit-model", str(model),
                                           "--audit-max-cases", "30", "-v", "-rfs", "-p", "no:cacheprovider")
    # inconclusive fails (strict) or passes with a warning (allowed); on the random tiny model the example's gender
    # gate is inconclusive: the model barely reacts to any input, so a gap near 0 is no evidence
    result.assert_outcomes(passed=5, failed=3, skipped=1, warnings=1)
    result.stdout.fnmatch_lines([f"transformer-audit: audited model {model}"])
    result.stdout.fnmatch_lines([f"*test_loose_gate?{P}? PASSED*", f"*test_impossible_gate?{P}? FAILED*",
                                 "*test_too_few_strict FAILED*", "*test_too_few_allowed PASSED*",
                                 "*test_unservable_probe SKIPPED*"], consecutive=False)
    result.stdout.fnmatch_lines(["*test_example.py::test_the_model_loaded PASSED*",
                                 f"*test_example.py::test_label_is_stable_under_harmless_edits?{P}? PASSED*",
                                 "*test_example.py::test_gender_swaps_barely_move_the_score FAILED*"], consecutive=False)
    result.stdout.fnmatch_lines(["*INCONCLUSIVE: max_gap[[]gender[]] ≤ 0.1*the model barely reacts to its input*"])
    out = result.stdout.str()

    # the failing gate's message is the gate's own reason, computed here independently through the runner
    import audit

    direct = audit.run(str(model), probes=[P], explain=False, progress=False, use_cache=False)
    flip = direct.probe(P).metric("flip_rate", "typo")
    reason = (f"flip_rate[typo] ≤ 0: value {flip.value:.4g} [{flip.ci[0]:.4g}, {flip.ci[1]:.4g}], fails when any part of "
              "the confidence interval is past the threshold → fail")
    section = out[out.index("_ test_impossible_gate["):]  # its entry under FAILURES
    lines = [line.lstrip("E").strip() for line in section.splitlines() if line.startswith("E ")][:3]
    assert lines == [
        f"AssertionError: Finding: {P} on model {model} — 1 failed of 1 gate(s) on flip_rate.",
        f"FAIL: {reason}",
        f"What the probe found: {direct.probe(P).headline}",
    ]
    assert "pytest_plugin.py:" not in section.split("test_too_few_strict")[0]  # the helper's own frames are hidden

    # too few cases: a failure that says so, or a warning when allowed — never a silent pass
    assert "4 inconclusive (the evidence decides neither way, which is not a pass) of 4 gate(s) on flip_rate." in out
    assert "INCONCLUSIVE: flip_rate[typo] ≤ 1: only 5 cases (need 10) — too few to decide" in out
    assert "InconclusiveGateWarning: robustness.perturbation: inconclusive (allowed) — flip_rate[whitespace] ≤ 1: only 5 cases" in out
    assert "testing.masks needs mask_fill, which a text-classification model does not offer" in out


def test_options_are_documented(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest("-p", "audit.pytest_plugin", "--help")
    result.stdout.fnmatch_lines(["audit a transformer model in tests:", "*--audit-model=AUDIT_MODEL*", "*--audit-max-cases=*",
                                 "*audit_model (string)*"])


MEMORY_CONFTEST = """
import pytest
import transformers

import audit


@pytest.fixture(scope="session")
def audited_model():  # the user's own model object, as a notebook or a training script has it
    model = transformers.AutoModelForSequenceClassification.from_pretrained({path!r})
    tokenizer = transformers.AutoTokenizer.from_pretrained({path!r})
    return audit.load(model, tokenizer=tokenizer, progress=False)
"""

MEMORY_INNER = """
import numpy as np

from audit.loading import load


def test_in_memory_model_through_the_fixtures(audited_model, audit_run):
    assert audited_model.info.source == "memory" and audited_model.task == "text-classification"
    result = audit_run("{probe}")
    assert result.model.source == "memory" and result.probe("{probe}").status == "ok"
    folder = load({path!r}, progress=False, use_cache=False)  # the same weights from the folder: same outputs
    texts = ["A fine day.", "The service was slow and the food was cold."]
    assert np.allclose(audited_model.class_probs(texts), folder.class_probs(texts), atol=1e-6)
"""


def test_an_in_memory_model_overrides_the_fixture(pytester, tiny_path, monkeypatch, tmp_path):
    """A conftest that overrides ``audited_model`` with a model object gates it through the same fixtures,
    and the object's outputs equal the folder's (the adapter and engine are the same)."""
    model = tiny_path("bert-classifier")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("TRANSFORMER_AUDIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makeconftest(MEMORY_CONFTEST.format(path=str(model)))
    pytester.makepyfile(test_memory=MEMORY_INNER.format(probe=P, path=str(model)))
    result = pytester.runpytest_subprocess("-p", "audit.pytest_plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
