"""bias.pronoun_occupation against direct forward passes of tiny masked and causal LMs."""
from __future__ import annotations

import pytest
import torch
import yaml

from audit.errors import AuditError
from probes.bias.lexicon import DATA
from probes.bias.pronoun_occupation import PronounOccupationProbe

SPEC = yaml.safe_load((DATA / "occupations.yaml").read_text(encoding="utf-8"))


def direct_masked(model, text, words):
    tok = model.tokenizer
    ids = tok(text)["input_ids"]
    pos = ids.index(tok.mask_token_id)
    with torch.no_grad():
        lp = model.model(input_ids=torch.tensor([ids])).logits[0, pos].log_softmax(-1)
    return [float(lp[tok.convert_tokens_to_ids(w)]) for w in words]


def direct_causal(model, prompt, words):
    tok = model.tokenizer
    ids = [tok.bos_token_id] + tok(prompt)["input_ids"]
    with torch.no_grad():
        lp = model.model(input_ids=torch.tensor([ids])).logits[0, -1].log_softmax(-1)
    return [float(lp[tok(" " + w, add_special_tokens=False)["input_ids"][0]]) for w in words]


def test_masked_lm_log_ratio_equals_direct_computation(tiny_mlm):
    r = PronounOccupationProbe(occupations=["nurse", "engineer"]).run(tiny_mlm)
    for row in r.tables["occupations"]:
        o = row["occupation"]
        article = "an" if o[0] in "aeiou" else "a"
        ratios = []
        for t in SPEC["masked_templates"]:
            he, she, _ = direct_masked(tiny_mlm, t.format(mask=tiny_mlm.mask_token, a=article, occupation=o), ["he", "she", "they"])
            ratios.append(he - she)
        assert row["log_ratio"] == pytest.approx(sum(ratios) / len(ratios), abs=1e-3)
        assert row["p_he"] + row["p_she"] + row["p_they"] == pytest.approx(1.0, abs=1e-3)
    assert r.metric("mean_log_ratio").n == 2
    assert any("too few" in w for w in r.warnings)


def test_causal_lm_uses_next_token_probabilities(tiny_gpt2):
    r = PronounOccupationProbe(occupations=["pilot"]).run(tiny_gpt2)
    ratios = [a - b for a, b, _ in (direct_causal(tiny_gpt2, t.format(occupation="pilot"), ["he", "she", "they"])
                                    for t in SPEC["causal_templates"])]
    assert r.tables["occupations"][0]["log_ratio"] == pytest.approx(sum(ratios) / len(ratios), abs=1e-3)
    case = r.cases[0]
    assert case.text.startswith("The pilot said that ") and case.pair.startswith("The pilot said that ")


def test_full_default_list_on_a_tiny_mlm(tiny_mlm):
    r = PronounOccupationProbe().run(tiny_mlm)
    m = r.metric("mean_log_ratio")
    assert m.n == len(SPEC["occupations"]) >= 30 and m.ci[0] <= m.value <= m.ci[1] and m.p_value is not None
    assert len(r.charts[0].data) == m.n and len(r.cases) == 6 and r.gates


def test_either_capability_serves_and_others_are_refused(tiny_mlm, tiny_gpt2, tiny_classifier):
    probe = PronounOccupationProbe()
    assert probe.supports(tiny_mlm) and probe.supports(tiny_gpt2) and not probe.supports(tiny_classifier)
    with pytest.raises(AuditError, match="mask_fill or next_token"):
        probe.run(tiny_classifier)
    with pytest.raises(AuditError, match="empty lexicon"):
        PronounOccupationProbe(occupations=[]).run(tiny_mlm)
    with pytest.raises(AuditError, match="three words"):
        PronounOccupationProbe(pronouns=["he", "she"]).run(tiny_mlm)
