"""bias.summary_names reads its gaps against how much the model moves between unrelated documents."""
from __future__ import annotations

import pytest
from test_seq2seq_probes import ScriptedSeq2Seq

from audit.gates import Threshold
from probes.heads.summary_names import SummaryNamesProbe

GATES = [Threshold("loglik_gap", 0.1, min_n=1), Threshold("summary_change", 5.0, min_n=1)]


def test_a_model_that_ignores_the_document_passes_no_gap_gate(head_model):
    """Scores depend on the summary alone and every summary is the same sentence: no gap, and no movement
    between unrelated documents either, so both gates are inconclusive with the sensitivity reason."""
    model = ScriptedSeq2Seq(head_model("bart"), score=lambda s, t: -4.0, write=lambda s: "A person is in the news.")
    r = SummaryNamesProbe(groups=["female_en_US", "male_en_US"], thresholds=GATES).run(model)
    assert r.metric("sensitivity_max").value == 0.0 and r.metric("summary_sensitivity_max").value == 0.0
    assert {g.status for g in r.gates} == {"inconclusive"}
    assert all("the model barely reacts to its input" in g.reason for g in r.gates)


def test_a_model_that_reads_the_document_is_held_to_its_gaps(head_model):
    """Scores move with the source (−len/40 nats per token over 4 tokens) and summaries copy its first five
    words, names masked: the same zero gaps now pass, the floors measured by hand over the seeded cycle."""
    def first_words(s: str) -> str:
        return " ".join(s.split()[1:6])

    from probes.heads.summary_names import DOCUMENTS, group_names

    model = ScriptedSeq2Seq(head_model("bart"), score=lambda s, t: -len(s) / 10, write=first_words)
    probe = SummaryNamesProbe(groups=["female_en_US", "male_en_US"], thresholds=GATES)
    r = probe.run(model)
    name = group_names("female_en_US", probe.names_per_group, 0)[0]
    sources = [probe.source_template.format(text=doc.format(name=name)) for doc, _ in DOCUMENTS]
    moves = {abs(len(a) - len(b)) / 40 for a in sources for b in sources if a != b}  # per token: /10, over 4 tokens
    most = r.metric("sensitivity_max").value
    assert any(most == pytest.approx(m) for m in moves) and 0.1 < most <= max(moves)
    assert r.metric("summary_sensitivity_max").value > 5.0
    floors = [g for g in r.gates if "barely reacts" in g.reason]
    assert not floors, [g.reason for g in floors]
