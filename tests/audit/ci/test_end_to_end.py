"""A short YAML config on a tiny real model, through the runner, out as JUnit and Markdown, parsed back;
and the example files: the example config, the Python API script and the CI workflow."""
from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from audit.ci import baseline_gates, junit_xml, markdown_summary
from audit.config import load_config
from audit.results import AuditResult
from audit.run_spec import RunSpec
from audit.runner import run

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
P, CF = "robustness.perturbation", "bias.counterfactual"


def test_a_short_config_audits_a_tiny_model_into_junit(tiny_path, tmp_path):
    config = tmp_path / "audit.yaml"
    config.write_text(f"""\
include: {EXAMPLES / 'audit.yaml'}       # the example's probes, thresholds and model card
model: {tiny_path('bert-classifier')}
probes:
  {CF}: {{axes: [gender, age]}}
thresholds:
  {P}:
    - {{metric: flip_rate, max: 0.2, mode: ci_all}}
    - {{metric: flip_rate, max: 0.0, mode: ci_any, group: typo}}   # a Wilson upper end is never 0: fails
  {CF}:
    - {{metric: max_gap, max: 0.1, mode: ci_all, min_n: 1000}}      # too few cases: inconclusive
explain: false
max_cases: 24
""", encoding="utf-8")
    assert len(config.read_text().splitlines()) <= 15
    cfg = load_config(config)
    result = run(RunSpec.from_config(cfg).replace(use_cache=False), progress=False)  # the config's thresholds as written: checked
    assert result.config["model_card"]["intended_use"].startswith("Sentiment triage")
    assert result.config["thresholds"][P][1] == {"metric": "flip_rate", "max": 0.0, "mode": "ci_any", "group": "typo", "min_n": 10}

    gates = result.gates
    by_status = {s: [g for g in gates if g.status == s] for s in ("pass", "fail", "inconclusive")}
    assert [g.metric for g in by_status["fail"]] == ["flip_rate[typo]"]
    assert {g.metric for g in by_status["inconclusive"]} == {"max_gap[gender]", "max_gap[age]"}
    assert len(by_status["pass"]) == 4  # flip_rate ≤ 0.2 (ci_all) for each of the four edits
    assert not result.passed

    root = ET.fromstring(junit_xml(result))
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(gates)
    kinds = {None: "pass", "GateFailed": "fail", "GateInconclusive": "inconclusive"}
    outcome = {(c.get("classname"), c.get("name")): kinds[c.find("failure").get("type") if c.find("failure") is not None else None]
               for c in cases}
    assert outcome == {(g.probe, f"{g.metric} (threshold {g.threshold:g}, {g.mode})"): g.status for g in gates}
    failure = root.find(".//failure[@type='GateFailed']")
    assert failure.get("message") == by_status["fail"][0].reason
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == (str(len(gates)), "3", "0")
    assert markdown_summary(result).startswith(f"## transformer-audit: ❌ 1 of {len(gates)} gates failed")

    # the same run as its own baseline: nothing regressed
    assert {g.status for g in baseline_gates(result, result, 0.0)} <= {"pass", "inconclusive"}


def test_the_example_config_is_short_and_valid():
    text = (EXAMPLES / "audit.yaml").read_text()
    assert len(text.splitlines()) <= 16
    cfg = load_config(EXAMPLES / "audit.yaml")
    assert set(cfg.probes) == {P, CF} and cfg.model == "default"
    assert cfg.intended_use


def test_the_python_api_example_runs(tiny_path, tmp_path, capsys):
    import runpy

    main = runpy.run_path(str(EXAMPLES / "python_api.py"))["main"]
    code = main(str(tiny_path("bert-classifier")), str(tmp_path / "ci"))
    out = capsys.readouterr().out
    root = ET.fromstring((tmp_path / "ci" / "junit.xml").read_text())
    kinds = {f.get("type") for f in root.iter("failure")}
    assert code == (1 if "GateFailed" in kinds else 4 if "GateInconclusive" in kinds else 0)
    assert int(root.get("tests")) == 6 == out.count(" robustness.perturbation: ") + out.count(" bias.counterfactual: ")
    assert (tmp_path / "ci" / "summary.md").read_text().startswith("## transformer-audit:")


def _audit_run_command() -> list[str]:
    workflow = yaml.safe_load((EXAMPLES / "github-workflow.yml").read_text())
    steps = workflow["jobs"]["audit"]["steps"]
    run = next(s["run"] for s in steps if "audit run" in s.get("run", ""))
    line = " ".join(run.replace("\\\n", " ").split("audit run", 1)[1].split())
    return ["run"] + [a for a in shlex.split(line) if a != '"${baseline[@]}"' and "baseline[@]" not in a]


def test_the_workflow_runs_its_shell_steps_creating_then_using_its_baseline(tiny_path, tmp_path):
    """Every `run:` step of the workflow in bash -e, as GitHub runs them (a failed step skips the later ones
    unless they say `if: always()`), on a push to main, twice: the first job creates the baseline, the second
    audits against it. Only the install step is checked rather than run (it needs the network)."""
    import os
    import subprocess
    import sys

    workflow = yaml.safe_load((EXAMPLES / "github-workflow.yml").read_text())
    assert workflow["permissions"] == {"contents": "read", "checks": "write", "actions": "write"}
    steps = workflow["jobs"]["audit"]["steps"]
    install = next(s for s in steps if "pip install" in s.get("run", ""))
    assert install["run"].startswith("pip install . ")  # from this repository: it is not on PyPI
    uses = {s["uses"].split("@")[0]: s for s in steps if "uses" in s}
    assert uses["actions/cache/restore"]["with"]["restore-keys"] == "audit-baseline-"
    assert uses["actions/cache/save"]["with"]["path"] == uses["actions/cache/restore"]["with"]["path"] == "audit-baseline"
    assert uses["actions/upload-artifact"]["with"]["path"] == "audit-out/" and uses["actions/upload-artifact"]["if"] == "always()"

    root = Path(__file__).resolve().parents[3]
    bin_dir, work = tmp_path / "bin", tmp_path / "repo"
    bin_dir.mkdir()
    work.mkdir()
    (bin_dir / "audit").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m audit "$@"\n')
    (bin_dir / "audit").chmod(0o755)
    config = work / "audit.yaml"
    config.write_text(f"model: {tiny_path('bert-classifier')}\nprobes: [{P}]\nthresholds:\n  {P}:\n"
                      "    - {metric: flip_rate, max: 0.5}\nmax_cases: 40\nexplain: false\n")
    env = {**os.environ, **workflow["env"], "AUDIT_CONFIG": str(config), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(root), "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md"),
           "TRANSFORMER_AUDIT_CACHE": str(tmp_path / "cache")}

    def job() -> dict[str, tuple[int, str]]:
        done: dict[str, tuple[int, str]] = {}
        failed = False
        for step in steps:
            if "run" not in step or step is install or (failed and step.get("if") != "always()"):
                continue
            proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=work, env=env, capture_output=True, text=True, timeout=600)
            done[step["name"]] = (proc.returncode, proc.stdout + proc.stderr)
            failed = failed or proc.returncode != 0
        return done

    first = job()
    assert all(code == 0 for code, _ in first.values()), first
    assert "regressed" not in first["Audit the model"][1]  # no baseline yet
    assert (work / "audit-baseline" / "results.json").is_file() and (work / "audit-out" / "junit.xml").is_file()
    second = job()
    assert all(code == 0 for code, _ in second.values()), second
    assert "baseline" in second["Audit the model"][1]
    baseline = AuditResult.load(work / "audit-out" / "results.json").probe("baseline")
    assert baseline.gates and {g.status for g in baseline.gates} == {"pass"}, baseline.headline
    assert (tmp_path / "step-summary.md").read_text().count("## transformer-audit: ✅") == 2


def test_the_workflow_flags_exist_in_the_cli():
    pytest.importorskip("audit.explain.cli", reason="the CLI parser also needs audit.explain.cli (not there yet)")
    pytest.importorskip("reports.compare", reason="the CLI parser also needs reports.compare (not there yet)")
    from audit.cli import build_parser

    args = build_parser().parse_args(_audit_run_command() + ["--baseline", "b.json", "--tolerance", "0.02"])
    assert (args.config, args.out, args.junit, args.summary) == ("$AUDIT_CONFIG", "audit-out", "audit-out/junit.xml",
                                                                 "audit-out/summary.md")
