"""Bad configs: every error names the file, the line and the key, and says what to do."""
from __future__ import annotations

import re

import pytest

from audit.config import load_config
from audit.errors import AuditError

TP = "robustness.perturbation"

# (id, yaml, expected message prefix "file:line: key", words that must follow)
CASES = [
    ("unknown-top-key", "model: default\nthresolds: {}\n",
     "audit.yaml:2: thresolds", "unknown key (did you mean 'thresholds'?)"),
    ("unknown-threshold-key", f"thresholds:\n  {TP}:\n    - metric: flip_rate\n      maxx: 0.2\n",
     f"audit.yaml:4: thresholds.{TP}.0.maxx", "unknown key (did you mean 'max'?)"),
    ("unknown-explain-key", "explain:\n  methd: ig\n", "audit.yaml:2: explain.methd", "did you mean 'method'?"),
    ("unknown-card-key", "model_card:\n  intended_uses: x\n", "audit.yaml:2: model_card.intended_uses", "did you mean 'intended_use'"),
    ("seed-not-a-number", "seed: zero\n", "audit.yaml:1: seed", "expected a whole number, got text 'zero'"),
    ("seed-negative", "seed: -1\n", "audit.yaml:1: seed", "must be at least 0"),
    ("seed-bool", "seed: true\n", "audit.yaml:1: seed", "expected a whole number, got true/false"),
    ("max-cases-zero", "max_cases: 0\n", "audit.yaml:1: max_cases", "must be at least 1"),
    ("threshold-quoted", f"thresholds:\n  {TP}:\n    - {{metric: flip_rate, max: '0.2'}}\n",
     f"audit.yaml:3: thresholds.{TP}.0.max", "expected a number, got text '0.2'"),
    ("threshold-nan", f"thresholds:\n  {TP}:\n    - {{metric: flip_rate, max: .nan}}\n",
     f"audit.yaml:3: thresholds.{TP}.0.max", "expected a finite number"),
    ("two-bounds", f"thresholds:\n  {TP}:\n    - {{metric: flip_rate, max: 0.2, min: 0.1}}\n",
     f"audit.yaml:3: thresholds.{TP}.0", "give exactly one of max:"),
    ("no-bound", f"thresholds:\n  {TP}:\n    - {{metric: flip_rate}}\n", f"audit.yaml:3: thresholds.{TP}.0", "found none"),
    ("no-metric", f"thresholds:\n  {TP}:\n    - {{max: 0.2}}\n", f"audit.yaml:3: thresholds.{TP}.0", "needs `metric:`"),
    ("unknown-mode", f"thresholds:\n  {TP}:\n    - metric: flip_rate\n      max: 0.2\n      mode: whole_ci\n",
     f"audit.yaml:5: thresholds.{TP}.0.mode", "unknown mode 'whole_ci'; ci: passes when the whole confidence interval is within the bound"),
    ("min-n-zero", f"thresholds:\n  {TP}:\n    - {{metric: flip_rate, max: 0.2, min_n: 0}}\n",
     f"audit.yaml:3: thresholds.{TP}.0.min_n", "must be at least 1"),
    ("thresholds-not-a-list", f"thresholds:\n  {TP}: 0.2\n", f"audit.yaml:2: thresholds.{TP}", "expected a list of thresholds"),
    ("negative-tolerance", "baseline:\n  path: r.json\n  tolerance: -0.01\n", "audit.yaml:3: baseline.tolerance", "cannot be negative"),
    ("tolerance-text", "baseline: {path: r.json, tolerance: small}\n", "audit.yaml:1: baseline.tolerance", "expected a number"),
    ("baseline-no-path", "baseline: {tolerance: 0.1}\n", "audit.yaml:1: baseline", "needs `path:`"),
    ("unknown-probe", "probes:\n  robustness.perturbaton: {}\n", "audit.yaml:2: probes.robustness.perturbaton",
     f"unknown probe (did you mean '{TP}'?)"),
    ("unknown-probe-in-list", "probes: [robustnes.perturbation]\n", "audit.yaml:1: probes.robustnes.perturbation", "did you mean"),
    ("unknown-parameter", f"probes:\n  {TP}:\n    perturbation: [typo]\n", f"audit.yaml:3: probes.{TP}.perturbation",
     "has no parameter 'perturbation' (did you mean 'perturbations'?)"),
    ("parameter-wrong-type", f"probes:\n  {TP}:\n    perturbations: typo\n", f"audit.yaml:3: probes.{TP}.perturbations",
     "expected list[str] | None, got text 'typo'"),
    ("thresholds-inside-params", f"probes:\n  {TP}:\n    thresholds: []\n", f"audit.yaml:3: probes.{TP}.thresholds",
     "top-level thresholds: section"),
    ("threshold-unknown-probe", "thresholds:\n  robustness.perturbatio: []\n", "audit.yaml:2: thresholds.robustness.perturbatio",
     "did you mean"),
    ("unknown-suite", "suites: [robustnes]\n", "audit.yaml:1: suites.0", "unknown suite 'robustnes' (did you mean 'robustness'?)"),
    ("unknown-task", "task: text-clasification\n", "audit.yaml:1: task", "did you mean 'text-classification'"),
    ("unknown-dtype", "dtype: fp64\n", "audit.yaml:1: dtype", "use auto, fp32, bf16 or fp16"),
    ("unknown-device", "device: gpu\n", "audit.yaml:1: device", "use auto, cpu, cuda, cuda:N or mps"),
    ("batch-size-zero", "batch_size: 0\n", "audit.yaml:1: batch_size", "must be at least 1"),
    ("duplicate-key", "seed: 1\nmodel: default\nseed: 2\n", "audit.yaml:3: seed", "duplicate key"),
    ("model-not-text", "model: [a, b]\n", "audit.yaml:1: model", "expected text"),
    ("intended-use-twice", "intended_use: a\nmodel_card: {intended_use: b}\n", "audit.yaml:1: intended_use", "keep one"),
    ("card-value-mapping", "model_card:\n  owners: {a: 1}\n", "audit.yaml:2: model_card.owners", "expected text or a list"),
    ("probes-not-mapping", "probes: 3\n", "audit.yaml:1: probes", "expected a mapping"),
    ("not-a-mapping", "- a\n- b\n", "audit.yaml:1", "a config is a mapping"),
    ("bad-yaml", "model: default\nprobes: [a, b\nseed: 1\n", "audit.yaml:", "not valid YAML"),
]


@pytest.mark.parametrize("text, where, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_names_file_line_and_key(write, text, where, words):
    path = write("audit.yaml", text)
    with pytest.raises(AuditError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(where + (":" if not where.endswith(":") else "")), message
    assert words in message, message
    assert "\n" not in message


def test_threshold_for_a_probe_that_is_not_selected(write, typed_probe):
    path = write("audit.yaml", f"probes: [{TP}]\nthresholds:\n  testing.typed:\n    - {{metric: x, max: 1}}\n")
    with pytest.raises(AuditError, match=r"^audit.yaml:3: thresholds.testing.typed: probe 'testing.typed' is not selected"):
        load_config(path)


@pytest.mark.parametrize("line, ok", [
    ("n: 3", True), ("n: 1.5", False), ("n: true", False),
    ("rate: 1", True), ("rate: 0.25", True), ("rate: high", False),
    ("names: [a, b]", True), ("names: null", True), ("names: [1, 2]", False), ("names: a", False),
    ("kind: b", True), ("kind: c", False),
    ("max_cases: 5", True), ("seed: 4", True),
])
def test_probe_parameters_are_checked_against_their_type_hints(write, typed_probe, line, ok):
    path = write("audit.yaml", f"probes:\n  testing.typed:\n    {line}\n")
    key = line.split(":")[0]
    if ok:
        assert key in load_config(path).probes["testing.typed"]
    else:
        with pytest.raises(AuditError, match=rf"^audit.yaml:3: probes.testing.typed.{key}: expected "):
            load_config(path)


def test_an_error_in_an_included_file_names_that_file(write):
    write("base/common.yaml", "seed: 0\nprobes:\n  robustness.perturbation:\n    perturbatons: [typo]\n")
    with pytest.raises(AuditError, match=r"^base/common.yaml:4: probes.robustness.perturbation.perturbatons: "):
        load_config(write("audit.yaml", "include: [base/common.yaml]\nseed: 1\n"))


def test_an_include_cycle_is_named_with_its_chain(write):
    write("a.yaml", "include: [b.yaml]\n")
    write("b.yaml", "seed: 1\ninclude:\n  - c.yaml\n")
    write("c.yaml", "include: a.yaml\n")
    with pytest.raises(AuditError) as info:
        load_config("a.yaml")
    assert str(info.value) == "c.yaml:1: include.0: include cycle: a.yaml → b.yaml → c.yaml → a.yaml; remove one of these includes"


def test_a_file_that_includes_itself(write):
    with pytest.raises(AuditError, match=r"^self.yaml:2: include.0: include cycle: self.yaml → self.yaml"):
        load_config(write("self.yaml", "seed: 1\ninclude: [self.yaml]\n"))


def test_a_missing_include(write):
    with pytest.raises(AuditError, match=re.escape("audit.yaml:1: include.0: included file not found: gone.yaml")):
        load_config(write("audit.yaml", "include: gone.yaml\n"))


def test_the_cli_exits_2_on_a_bad_config(write, capsys):
    pytest.importorskip("audit.explain.cli", reason="the CLI parser also needs audit.explain.cli (not there yet)")
    pytest.importorskip("reports.compare", reason="the CLI parser also needs reports.compare (not there yet)")
    from audit.cli import main

    write("audit.yaml", "model: default\nprobes: [robustness.perturbation]\nthresholds:\n  robustness.perturbation:\n"
                        "    - {metric: flip_rate, max: 0.2, mode: whole}\n")
    assert main(["run", "--config", "audit.yaml", "--out", "out"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("audit: error: audit.yaml:5: thresholds.robustness.perturbation.0.mode: unknown mode 'whole'")
    assert "Traceback" not in err
