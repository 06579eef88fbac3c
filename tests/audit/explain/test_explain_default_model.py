"""The default model (zero-shot over all-MiniLM-L6-v2): the attributed quantity is the decision's, and its signs
make sense on unambiguous sentences."""
from __future__ import annotations

import pytest
from test_oracles import log_odds_from_logits, zero_shot_logits

from audit.explain.explainer import explain

SENTENCES = [("The food was terrible.", "terrible", -1), ("What an awful, boring film.", "awful", -1),
             ("A delightful and moving film.", "delightful", +1)]


def test_value_is_the_log_odds_of_the_decision_and_sentiment_words_lead_with_the_right_sign(default_model):
    m = default_model
    res = explain(m, [s for s, _, _ in SENTENCES], target="positive", faithfulness=False)
    k = m.label_index("positive")
    for (text, word, sign), e in zip(SENTENCES, res.examples):
        assert e.value == pytest.approx(log_odds_from_logits(zero_shot_logits(m, text), k), abs=1e-5)
        scores = dict(zip(e.words, e.scores))
        top = max(scores, key=lambda w: abs(scores[w]))
        assert top == word and scores[word] * sign > 0, (text, scores)
