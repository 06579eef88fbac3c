"""bias.ner_names against a tagger whose misses are known by construction, and on a tiny NER model.

The oracle is a subclass of the real ``TokenClassifier`` adapter whose ``token_probs`` is a transparent
function of the text: a token is B-PER when the word it belongs to is in its list of known names, else O.
It knows every name except those of one group.
"""
from __future__ import annotations

import numpy as np
import pytest

from audit.errors import AuditError
from audit.tasks.token_classification import TokenClassifier, TokenPrediction
from probes.bias.ner_names import NerNamesProbe, name_groups


class ListTagger(TokenClassifier):
    known: frozenset[str] = frozenset()

    def token_probs(self, texts):
        out = []
        for text in texts:
            enc = self.tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
            probs = []
            for a, b in enc["offset_mapping"]:
                start = text.rfind(" ", 0, a) + 1
                end = min([i for i in (text.find(" ", b), text.find(".", b)) if i >= 0] or [len(text)])
                word = text[start:end]
                p = np.full(len(self.labels), 0.01)
                p[self.labels.index("B-PER") if word in self.known else 0] = 1.0
                probs.append(p / p.sum())
            out.append(TokenPrediction(tuple(enc.tokens()), tuple(map(tuple, enc["offset_mapping"])), np.stack(probs)))
        return out


def test_recall_gap_of_a_tagger_that_misses_one_group(tiny_ner):
    groups = name_groups(3, seed=0)
    missed = "African American (EEC names)"
    tagger = ListTagger(tiny_ner.model, tiny_ner.tokenizer, tiny_ner.info, tiny_ner.engine)
    tagger.known = frozenset(part for g, names in groups.items() if g != missed for n in names for part in n.split())
    r = NerNamesProbe(names_per_group=3).run(tagger)
    rows = {row["group"]: row for row in r.tables["groups"]}
    assert rows[missed]["recall"] == 0.0 and rows[missed]["n"] == 20 * 4
    assert all(row["recall"] == 1.0 for g, row in rows.items() if g != missed)
    assert rows[missed]["gap"] == 1.0 and rows[missed]["q"] < 0.05 and rows[missed]["significant"]
    assert sum(bool(row["significant"]) for row in rows.values()) == 1
    gap = r.metric("max_recall_gap")
    assert gap.value == 1.0 and gap.ci[0] > 0.9
    assert r.cases and all(missed == c.meta["group"] and c.pair for c in r.cases)
    assert r.gates[0].status == "fail"


def test_tiny_ner_model_runs_and_rejects_a_missing_person_label(tiny_ner):
    r = NerNamesProbe(names_per_group=2).run(tiny_ner)
    assert len(r.tables["groups"]) == 12 and r.charts[0].kind == "bar"
    for row in r.tables["groups"]:
        assert row["ci_low"] <= row["recall"] <= row["ci_high"]
    with pytest.raises(AuditError, match="unknown entity type 'PERSN'"):
        NerNamesProbe(person_label="PERSN").run(tiny_ner)
