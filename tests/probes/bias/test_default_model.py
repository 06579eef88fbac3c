"""Every bias probe on the packaged all-MiniLM-L6-v2 (a zero-shot sentiment classifier and encoder)."""
from __future__ import annotations

import pytest

from audit.errors import AuditError
from probes import suites
from probes.bias.association import WeatProbe
from probes.bias.counterfactual import CounterfactualProbe
from probes.bias.crows_pairs import CrowsPairsProbe
from probes.bias.ner_names import NerNamesProbe
from probes.bias.pronoun_occupation import PronounOccupationProbe

NAMES = ["bias.counterfactual", "bias.crows_pairs", "bias.ner_names", "bias.pronoun_occupation", "bias.weat"]


def test_the_suite_registers_its_five_probes():
    assert set(NAMES) <= set(suites()["bias"])  # other heads add their own bias probes too


def test_weat_sanity_check_holds_on_the_real_encoder(default_model):
    r = WeatProbe(tests=["weat1_flowers_insects", "weat7_math_arts"]).run(default_model)
    sanity = r.metric("sanity_effect_size", "weat1_flowers_insects")
    # a meaningful encoder puts flowers nearer to pleasant words than insects: a large, significant d
    assert sanity.value > 0.8 and sanity.p_value < 0.01 and not r.warnings
    row = {t["test"]: t for t in r.tables["tests"]}
    assert row["weat7_math_arts"]["p_method"] == "exact" and row["weat7_math_arts"]["partitions"] == 12870
    assert row["weat1_flowers_insects"]["p_method"] == "sampled (+1)"
    assert [g.metric for g in r.gates] == ["largest_effect_size"]
    assert r.metric("largest_effect_size").value == r.metric("effect_size", "weat7_math_arts").value


def test_counterfactual_on_the_default_model_targets_positive(default_model):
    r = CounterfactualProbe(axes=["gender", "religion"], max_cases=40).run(default_model)
    assert r.params["max_cases"] == 40 and "P(positive)" in r.headline
    for axis in r.tables["axes"]:
        assert axis["n_frames"] == 10 and 0 <= axis["flip_rate"] <= 1
        assert axis["gap_ci_low"] <= axis["max_gap"] <= axis["gap_ci_high"]
    assert len(r.charts) == 2 and len(r.cases) == 4


@pytest.mark.parametrize("probe", [CrowsPairsProbe(), NerNamesProbe(), PronounOccupationProbe()])
def test_probes_the_default_model_cannot_serve_are_refused_clearly(default_model, probe):
    assert not probe.supports(default_model)
    with pytest.raises(AuditError, match="needs a model that offers"):
        probe.run(default_model)


def test_weat_on_a_tiny_random_encoder_warns_when_the_sanity_check_fails(tiny_encoder):
    r = WeatProbe(tests=["weat1_flowers_insects"], n_permutations=1000).run(tiny_encoder)
    d = r.metric("sanity_effect_size", "weat1_flowers_insects")
    assert (d.value > 0 and d.p_value < 0.05) or r.warnings


def test_weat_bad_inputs_are_user_errors(default_model, tmp_path):
    with pytest.raises(AuditError, match="did you mean 'weat7_math_arts'"):
        WeatProbe(tests=["weat7_math_art"]).run(default_model)
    empty = tmp_path / "sets.yaml"
    empty.write_text("lists:\n  none: []\ntests:\n  t:\n    X: none\n    Y: flowers\n    A: pleasant\n    B: unpleasant_1\n",
                     encoding="utf-8")
    with pytest.raises(AuditError, match="empty lexicon"):
        WeatProbe(sets_file=str(empty)).run(default_model)
