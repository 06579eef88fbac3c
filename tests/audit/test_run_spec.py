"""One run specification: YAML, the command line and Python build the same RunSpec; the runner takes only that,
and gates against a baseline for every caller; the old keyword form still works, with a DeprecationWarning."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import audit
from audit.cli import _run_spec, build_parser
from audit.errors import AuditError
from audit.gates import Threshold
from audit.run_spec import RunSpec

P = "robustness.perturbation"


def _options(spec: RunSpec) -> dict:
    """Every option but the config it came from (an AuditConfig on one side, nothing on the other)."""
    return {name: getattr(spec, name) for name in RunSpec.model_fields if name != "config"}


def test_yaml_command_line_and_python_build_the_same_spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("audit.yaml").write_text(f"""\
probes:
  {P}: {{perturbations: [typo]}}
  bias.counterfactual: {{axes: [gender]}}
thresholds:
  {P}:
    - {{metric: flip_rate, max: 0.3}}
seed: 5
max_cases: 12
explain: false
baseline: {{path: old/results.json, tolerance: 0.05}}
""", encoding="utf-8")
    argv = ["run", "--config", "audit.yaml", "--probe", P, "--seed", "7", "--tolerance", "0.1", "--no-cache",
            "--device", "cpu", "--allow-inconclusive"]
    from_cli = _run_spec(build_parser().parse_args(argv))
    by_hand = RunSpec.create(
        probes=[P], probe_params={P: {"perturbations": ["typo"]}}, thresholds={P: [Threshold("flip_rate", 0.3)]},
        seed=7, max_cases=12, explain=False, baseline={"path": Path("old/results.json"), "tolerance": 0.1},
        use_cache=False, device="cpu", allow_inconclusive=True)
    assert _options(from_cli) == _options(by_hand)  # --probe narrows the config's probes, parameters and thresholds
    assert from_cli.recorded_config()["seed"] == 5  # the file as written is what the results record


def test_the_command_line_alone_fills_the_defaults():
    spec = _run_spec(build_parser().parse_args(["run", "--baseline", "prev.json", "--no-explain"]))
    assert _options(spec) == _options(RunSpec(baseline="prev.json", explain=False))
    assert spec.baseline.tolerance == 0.02 and spec.model == "default"


@pytest.mark.parametrize("options, words", [
    ({"seed": -1}, "run option seed: must be at least 0, got -1"),
    ({"sede": 1}, "unknown run option 'sede' (did you mean 'seed'"),
    ({"max_cases": True}, "run option max_cases: expected a whole number, got true/false"),
    ({"use_cache": "no"}, "run option use_cache: expected true or false, got text 'no'"),
    ({"max_tokens": 0}, "run option max_tokens: must be at least 1, got 0"),
    ({"baseline": {"path": "a.json", "tolerance": float("nan")}}, "run option baseline.tolerance"),
])
def test_a_bad_option_is_one_clear_line(options, words):
    with pytest.raises(AuditError) as info:
        audit.run("no/such-model", **options)  # refused before any model is looked for
    assert str(info.value).startswith(words) and "\n" not in str(info.value)


def test_a_spec_and_options_together_are_refused():
    with pytest.raises(AuditError, match="either a RunSpec or options"):
        audit.run(RunSpec(), seed=1)


def test_one_name_is_a_list_of_one():
    assert RunSpec(suites="bias", probes="bias.weat").suites == ("bias",)


def test_baseline_gates_come_from_the_runner_for_every_caller(tiny_path, tmp_path):
    """Python, the deprecated keyword form and the CLI give the same regression gates, those that audit.ci's
    with_baseline gives when applied by hand (the oracle)."""
    from audit.ci import with_baseline
    from audit.cli import main
    from audit.results import AuditResult
    from audit.runner import run_audit

    model = str(tiny_path("bert-classifier"))
    options = dict(probes=[P], max_cases=12, explain=False, use_cache=False)
    with pytest.warns(DeprecationWarning, match="run_audit"):
        before = run_audit(model, progress=False, **options)
    path = before.save(tmp_path / "before.json")
    after = audit.run(model, progress=False, baseline={"path": path, "tolerance": 0.0}, **options)
    expected = with_baseline(before, before, 0.0, str(path)).probe("baseline")
    assert [m.__dict__ for m in after.probe(P).metrics] == [m.__dict__ for m in before.probe(P).metrics]
    assert after.probe("baseline").gates == expected.gates and len(expected.gates) == 4
    assert after.probe("baseline").headline == expected.headline

    out = tmp_path / "out"
    assert main(["run", model, "--probe", P, "--max-cases", "12", "--no-explain", "--no-cache", "--quiet",
                 "--out", str(out), "--baseline", str(path), "--tolerance", "0"]) in (0, 1, 4)
    from_cli = AuditResult.load(out / "results.json")
    assert from_cli.probe("baseline").gates == expected.gates


def test_light_commands_do_not_import_pydantic():
    """`import audit`, the parser and `audit gate` without a config stay as fast as before: no pydantic."""
    code = ("import sys, audit, audit.cli, audit.ci; audit.cli.build_parser(); "
            "print('pydantic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
