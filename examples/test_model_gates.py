"""Gate a model from pytest with the transformer-audit plugin.

    pytest examples/test_model_gates.py --audit-model default
    pytest examples/test_model_gates.py --audit-model path/to/model --audit-max-cases 50

A failing gate fails its test with a message that reads like a finding; an inconclusive gate (its interval
straddles the bound, too few cases, or a model that barely reacts to any input) fails too, saying how many
cases would decide it — the same verdicts as `audit run`. On a random, untrained model the gender gate is
inconclusive: such a model barely reacts to any input, so a gap near 0 is no evidence of fairness.
"""
from audit.pytest_plugin import assert_gate, parametrize_probes


def test_the_model_loaded(audited_model):
    assert audited_model.info.fingerprint


@parametrize_probes(["robustness.perturbation"])
def test_label_is_stable_under_harmless_edits(audit_run, probe_name):
    assert_gate(audit_run(probe_name), probe_name, "flip_rate", max=0.2)


def test_gender_swaps_barely_move_the_score(audit_run):
    result = audit_run("bias.counterfactual", axes=["gender"])
    assert_gate(result, "bias.counterfactual", "max_gap", max=0.1, group="gender")
