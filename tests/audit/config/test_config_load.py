"""Reading configs: fields, include: merging, relative paths, the run spec, init and validate."""
from __future__ import annotations

from pathlib import Path

import pytest

from audit.config import AuditConfig, init_command, load_config, starter_config, validate_command
from audit.errors import AuditError
from audit.gates import Threshold
from audit.run_spec import RunSpec

FULL = """
model: ./models/tiny
task: text-classification
suites: [robustness]
probes:
  robustness.perturbation:
    perturbations: [typo, lowercase]
thresholds:
  robustness.perturbation:
    - metric: flip_rate
      max: 0.25
      mode: ci_all
      group: typo
      min_n: 20
    - {metric: flip_rate, value: 0.4}
seed: 7
max_cases: 30
device: cpu
dtype: fp32
batch_size: 16
out: results/here
explain: {method: saliency, max_cases: 4}
baseline: {path: old/results.json, tolerance: 0.05}
model_card:
  intended_use: Sorting support tickets.
  out_of_scope: [Medical advice, Hiring decisions]
"""


def test_every_field_is_read(write):
    (Path("cfg") / "models" / "tiny").mkdir(parents=True)
    cfg = load_config(write("cfg/audit.yaml", FULL))
    assert cfg.model == str(Path("cfg/models/tiny"))  # a local folder, relative to the config file
    assert (cfg.task, cfg.suites, cfg.seed, cfg.max_cases, cfg.device, cfg.dtype, cfg.batch_size) == (
        "text-classification", ("robustness",), 7, 30, "cpu", "fp32", 16)
    assert cfg.probes == {"robustness.perturbation": {"perturbations": ["typo", "lowercase"]}}
    assert cfg.thresholds == {"robustness.perturbation": [Threshold("flip_rate", 0.25, "ci_all", "typo", 20),
                                                          Threshold("flip_rate", 0.4)]}
    assert [s.bound for s in cfg.threshold_specs["robustness.perturbation"]] == ["max", "value"]
    assert [s.where for s in cfg.threshold_specs["robustness.perturbation"]] == ["cfg/audit.yaml:10", "cfg/audit.yaml:14"]
    assert cfg.out == Path("cfg/results/here")
    assert (cfg.explain.method, cfg.explain.max_cases) == ("saliency", 4)
    assert (cfg.baseline.path, cfg.baseline.tolerance) == (Path("cfg/old/results.json"), 0.05)
    assert cfg.intended_use == "Sorting support tickets."
    assert cfg.model_card["out_of_scope"] == ["Medical advice", "Hiring decisions"]
    assert cfg.files == (Path("cfg/audit.yaml"),)


def test_defaults_of_an_empty_config(write):
    cfg = load_config(write("audit.yaml", "# nothing\n"))
    assert cfg == AuditConfig(files=(Path("audit.yaml"),))
    spec = RunSpec.from_config(cfg)
    assert (spec.model, spec.suites, spec.probes, spec.probe_params, spec.explain, spec.baseline) == (
        "default", None, None, {}, "ig", None)


def test_a_hub_id_is_not_mistaken_for_a_path(write):
    assert load_config(write("audit.yaml", "model: org/some-model\n")).model == "org/some-model"


def test_the_run_spec_carries_every_setting(write):
    cfg = load_config(write("audit.yaml", FULL.replace("./models/tiny", "default") + "allow_inconclusive: true\n"))
    spec = RunSpec.from_config(cfg)
    assert spec.probes == ("robustness.perturbation",) and spec.suites == ("robustness",)
    assert spec.probe_params == {"robustness.perturbation": {"perturbations": ["typo", "lowercase"]}}
    assert spec.thresholds == cfg.thresholds
    assert (spec.seed, spec.max_cases, spec.device, spec.dtype, spec.batch_size) == (7, 30, "cpu", "fp32", 16)
    assert (spec.explain, spec.max_explanations) == ("saliency", 4)
    assert (spec.baseline.path, spec.baseline.tolerance) == (Path("old/results.json"), 0.05)
    assert spec.allow_inconclusive is True and spec.config is cfg
    recorded = spec.recorded_config()
    assert recorded["thresholds"]["robustness.perturbation"][0] == {"metric": "flip_rate", "max": 0.25, "mode": "ci_all",
                                                                    "group": "typo", "min_n": 20}
    assert recorded["model_card"]["intended_use"] == "Sorting support tickets."
    import json

    json.dumps(recorded)  # plain data, recordable in results.json


def test_run_kwargs_still_work_for_one_release_with_a_warning(write):
    from audit.run_spec import RunSpec

    cfg = load_config(write("audit.yaml", FULL.replace("./models/tiny", "default")))
    with pytest.warns(DeprecationWarning, match="RunSpec.from_config"):
        kwargs = cfg.run_kwargs()
    assert RunSpec.create(**kwargs).recorded_config() == cfg.to_dict()  # what run_audit(**kwargs) now builds
    spec = RunSpec.from_config(cfg)
    assert kwargs["probes"] == list(spec.probes) and kwargs["thresholds"] == spec.thresholds
    assert (kwargs["explain"], kwargs["max_explanations"], kwargs["config"]) == ("saliency", 4, cfg.to_dict())


@pytest.mark.parametrize("text, method", [("explain: false", None), ("explain: true", "ig"), ("explain: occlusion", "occlusion"),
                                          ("explain: {max_cases: 2}", "ig")])
def test_explain_forms(write, text, method):
    cfg = load_config(write("audit.yaml", text + "\n"))
    assert cfg.explain.method == method
    assert RunSpec.from_config(cfg).explain == (method or False)


def test_short_forms(write):
    cfg = load_config(write("audit.yaml", """
        probes: [robustness.perturbation]
        baseline: prev/results.json
        intended_use: Triage.
        batch_size: auto
        """))
    assert cfg.probes == {"robustness.perturbation": {}}
    assert cfg.baseline.path == Path("prev/results.json") and cfg.baseline.tolerance == 0.02
    assert cfg.model_card == {"intended_use": "Triage."}
    assert cfg.batch_size is None


def test_include_merges_the_base_under_the_file(write):
    write("shared/base.yaml", """
        model: default
        seed: 3
        probes:
          robustness.perturbation:
            perturbations: [typo]
            texts: [One sentence here., Another one.]
        thresholds:
          robustness.perturbation:
            - {metric: flip_rate, max: 0.3}
        baseline: {path: base-results.json}
        model_card: {intended_use: Base use., owners: [Team A]}
        """)
    cfg = load_config(write("audit.yaml", """
        include: shared/base.yaml
        seed: 5
        probes:
          robustness.perturbation:
            perturbations: [whitespace, lowercase]
        model_card: {intended_use: Our use.}
        """))
    assert cfg.seed == 5
    # mappings merge key by key; lists are replaced
    assert cfg.probes == {"robustness.perturbation": {"perturbations": ["whitespace", "lowercase"],
                                                      "texts": ["One sentence here.", "Another one."]}}
    assert cfg.thresholds == {"robustness.perturbation": [Threshold("flip_rate", 0.3)]}
    assert cfg.threshold_specs["robustness.perturbation"][0].where == "shared/base.yaml:9"
    assert cfg.baseline.path == Path("shared/base-results.json")  # relative to the file that names it
    assert cfg.model_card == {"intended_use": "Our use.", "owners": ["Team A"]}
    assert cfg.files == (Path("audit.yaml"), Path("shared/base.yaml"))


def test_includes_apply_in_order_and_a_diamond_is_not_a_cycle(write):
    write("d.yaml", "seed: 1\nmax_cases: 10\n")
    write("b.yaml", "include: d.yaml\nseed: 2\n")
    write("c.yaml", "include: [d.yaml]\nseed: 3\n")
    cfg = load_config(write("a.yaml", "include: [b.yaml, c.yaml]\n"))
    assert (cfg.seed, cfg.max_cases) == (3, 10)


def test_init_writes_a_starter_config_that_validates(write, capsys):
    assert init_command("audit.yaml") == 0
    text = Path("audit.yaml").read_text()
    assert text == starter_config()
    assert text.count("\n#") > 10  # commented
    cfg = load_config("audit.yaml")
    assert cfg.thresholds == {"robustness.perturbation": [Threshold("flip_rate", 0.2, "ci")]}
    assert "robustness.perturbation" in text.split("Probes available here")[1]
    assert validate_command("audit.yaml") == 0
    assert "audit.yaml: valid" in capsys.readouterr().out


def test_init_refuses_to_overwrite_without_force(write, capsys):
    path = write("audit.yaml", "seed: 1\n")
    assert init_command(path) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert path.read_text() == "seed: 1\n"
    assert init_command(path, force=True) == 0
    assert path.read_text() == starter_config()


def test_validate_reports_the_error_and_exit_code(write, capsys):
    assert validate_command(write("audit.yaml", "sede: 1\n")) == 2
    assert capsys.readouterr().err.strip() == ("audit: error: audit.yaml:1: sede: unknown key (did you mean 'seed', 'baseline'?); allowed here: "
                                               "include, model, task, suites, probes, thresholds, seed, max_cases, device, dtype, "
                                               "batch_size, out, explain, baseline, intended_use, model_card, allow_inconclusive")


def test_cli_validate_and_init_exit_codes(write, capsys):
    pytest.importorskip("audit.explain.cli", reason="the CLI parser also needs audit.explain.cli (not there yet)")
    pytest.importorskip("reports.compare", reason="the CLI parser also needs reports.compare (not there yet)")
    from audit.cli import main

    assert main(["init", "new.yaml"]) == 0
    assert main(["validate", "new.yaml"]) == 0
    write("bad.yaml", "thresholds:\n  robustness.perturbation:\n    - {metric: flip_rate, max: 0.2, mode: ci-all}\n")
    assert main(["validate", "bad.yaml"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:3: thresholds.robustness.perturbation.0.mode: unknown mode 'ci-all' (did you mean 'ci_all'" in err


def test_missing_file_is_an_audit_error(write):
    with pytest.raises(AuditError, match=r"config file not found: nope\.yaml"):
        load_config("nope.yaml")
