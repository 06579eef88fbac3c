"""--dry-run counts what a run computes, writes nothing, and takes a fraction of the time."""
import audit
from audit import dryrun
from audit.cli import main
from audit.loading import load
from audit.runner import build_probes


def test_counts_equal_a_real_run_for_probes_whose_inputs_do_not_depend_on_answers(tiny_path):
    path = str(tiny_path("bert-classifier"))
    names = ["robustness.perturbation", "bias.counterfactual"]
    params = {"bias.counterfactual": {"axes": ["gender", "age"]}}
    model = load(path, progress=False, use_cache=False)
    probes, _ = build_probes(model, suites=None, probes=names, probe_params=params, thresholds=None, seed=0, max_cases=None)
    rows, rate = dryrun.plan(model, probes)
    real = audit.run(path, probes=names, probe_params=params, explain=False, use_cache=False, progress=False)
    assert sum(r.sequences for r in rows) == real.throughput["sequences"]
    assert sum(r.tokens for r in rows) == real.throughput["tokens"]
    assert rate > 0 and all(r.seconds >= 0 for r in rows)
    assert dryrun.surrogate(model).model.config.num_hidden_layers == 1
    assert model.model.config.num_hidden_layers == 2  # the real model is untouched


def test_cli_dry_run_prints_a_plan_and_writes_nothing(tiny_path, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", str(tiny_path("bert-classifier")), "--suite", "robustness", "--dry-run", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and "robustness.perturbation" in text and "forward passes" in text and "est. s" in text
    assert not out.exists()


def test_dry_run_under_a_budget_counts_what_the_budgeted_run_computes(tiny_path, capsys):
    """Oracle: the real run under the same budget (long_input.lm is cut down in both; its inputs do not depend on
    the model's answers, so the counts must agree exactly)."""
    path = str(tiny_path("bert-mlm"))
    names = ["long_input.lm", "bias.pronoun_occupation"]
    model = load(path, progress=False, use_cache=False)
    probes, _ = build_probes(model, suites=None, probes=names, probe_params=None, thresholds=None, seed=0, max_cases=None)
    rows, rate = dryrun.plan(model, probes, budget=20_000)
    real = audit.run(path, probes=names, max_tokens=20_000, explain=False, use_cache=False, progress=False)
    assert sum(r.tokens for r in rows) == real.throughput["tokens"] <= 2 * 20_000
    lm = real.probe("long_input.lm")  # cut down, or not run at all: either way both runs agree on what it cost
    assert any("cut to fit the budget" in w for w in lm.warnings) or lm.headline.startswith("Not run:")
    assert rate > 0 and all(0 <= r.seconds < 600 for r in rows)
    code = main(["run", path, "--probe", "bias.pronoun_occupation", "--dry-run", "--max-cases", "3"])
    assert code == 0 and "token budget per probe: 6,144 tokens" in capsys.readouterr().out
