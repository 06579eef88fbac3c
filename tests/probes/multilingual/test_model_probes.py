"""Retrieval, consistency and perplexity against encoders and classifiers whose answers are known.

The stand-in adapters below are honest subclasses of the real adapters: they keep the loaded tiny model's
info, tokenizer and engine and replace only the one primitive the probe calls with a transparent function
of the text, so the expected results can be worked out independently.
"""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from audit.errors import AuditError
from audit.tasks.sentence_embedding import SentenceEncoder
from audit.tasks.text_classification import TextClassifier
from probes.multilingual.common import parallel_items
from probes.multilingual.consistency import ConsistencyProbe
from probes.multilingual.languages import ENGLISH, registry, resolve
from probes.multilingual.perplexity import PerplexityProbe, excerpt, fit
from probes.multilingual.retrieval import RetrievalProbe, ranks

NAMED = ["fr", "de", "ru", "hi", "am", "zh_Hans", "yo", "sw", "ja", "ar", "ko", "el"]


class LookupEncoder(SentenceEncoder):
    """embed(text) = vector_of(text): nothing learnt, nothing hidden."""

    def __init__(self, base: SentenceEncoder, vector_of) -> None:  # type: ignore[no-untyped-def]
        super().__init__(base.model, base.tokenizer, base.info, base.engine)
        self.vector_of = vector_of

    def embed(self, texts, strategy="truncate"):  # type: ignore[no-untyped-def]
        return np.stack([self.vector_of(t) for t in texts])


class RuleClassifier(TextClassifier):
    """class_probs(text) = one-hot of rule(text)."""

    def __init__(self, base: TextClassifier, rule) -> None:  # type: ignore[no-untyped-def]
        super().__init__(base.model, base.tokenizer, base.info, base.engine)
        self.rule = rule

    def class_probs(self, texts, strategy="truncate"):  # type: ignore[no-untyped-def]
        return np.eye(len(self.labels))[[self.rule(t) for t in texts]]


def _hash_vector(text: str, dim: int = 32) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).normal(size=dim)


def test_ranks_count_ties_against_the_query():
    cand = np.eye(3)
    assert ranks(np.eye(3), cand, np.arange(3)).tolist() == [1, 1, 1]
    assert ranks(np.ones((2, 3)), cand, np.array([0, 2])).tolist() == [3, 3]  # everything alike: worst rank


def test_an_encoder_that_embeds_each_item_by_its_key_retrieves_everything(tiny):
    langs = resolve(NAMED)
    keys, texts = parallel_items(langs + [registry()[ENGLISH]], 40, 0)
    key_of: dict[str, str] = {}
    for per_lang in texts.values():
        for k, t in per_lang.items():
            assert key_of.setdefault(t, k) == k, f"{t!r} names two items"
    encoder = LookupEncoder(tiny("sentence-transformer"), lambda t: np.eye(len(keys))[keys.index(key_of[t])])
    result = RetrievalProbe(languages=NAMED).run(encoder)
    rows = [r for r in result.tables["languages"] if r["status"] == "ok"]
    assert len(rows) == len(NAMED)
    assert all(r["accuracy"] == 1.0 and r["mrr"] == 1.0 for r in rows)
    assert result.metric("mean_accuracy").value == 1.0
    assert result.metric("languages_at_chance").value == 0
    assert result.metric("accuracy", "fr_Latn").ci[1] == 1.0


def test_a_random_encoder_retrieves_at_chance_apart_from_names_spelled_as_in_english(tiny):
    """Hash-seeded random vectors: a name finds its twin only when spelled exactly alike, else with chance 1/K."""
    encoder = LookupEncoder(tiny("sentence-transformer"), _hash_vector)
    result = RetrievalProbe(items=40, max_cases=3).run(encoder)
    assert len(result.cases) == 3
    rows = [r for r in result.tables["languages"] if r["status"] == "ok"]
    assert len(rows) >= 200
    k = 40
    expected = np.mean([r["identical"] + (1 - r["identical"]) / k for r in rows])
    assert result.metric("mean_accuracy").value == pytest.approx(expected, abs=0.015)
    never_identical = [r for r in rows if r["identical"] == 0]
    assert sum(r["at_chance"] for r in never_identical) >= 0.9 * len(never_identical)


def test_consistency_matches_a_hand_count_for_a_script_sensitive_classifier(tiny):
    """Label 1 for any non-ASCII name: a name agrees with English exactly when both are ASCII or both are not."""
    clf = RuleClassifier(tiny("bert-classifier"), lambda t: int(not t.isascii()))
    result = ConsistencyProbe(languages=NAMED).run(clf)
    _, texts = parallel_items(resolve(NAMED) + [registry()[ENGLISH]], 40, 0)
    eng = texts[ENGLISH]
    for lang in resolve(NAMED):
        own = texts[lang.code]
        by_hand = np.mean([own[k].isascii() == eng[k].isascii() for k in own])
        row = next(r for r in result.tables["languages"] if r["code"] == lang.code)
        assert row["agreement"] == pytest.approx(by_hand, abs=1e-4)
        assert row["distance"] == pytest.approx(1 - by_hand, abs=1e-4)  # one-hot probabilities: distance is disagreement
    ru = next(r for r in result.tables["languages"] if r["code"] == "ru_Cyrl")
    assert ru["agreement"] < 0.2 and result.cases


def _write_csv(path, rows, columns=("text", "label", "lang", "group_id")):  # type: ignore[no-untyped-def]
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            w.writerow([r[c] for c in columns])
    return str(path)


def test_dataset_accuracy_and_macro_f1_per_language_match_sklearn(tiny, tmp_path):
    clf = RuleClassifier(tiny("bert-classifier"), lambda t: int("+" in t))
    rng = np.random.default_rng(1)
    rows = []
    for g in range(30):
        gold = int(rng.integers(0, 2))
        for lang, noise in (("en", 0.05), ("fr", 0.2), ("yo", 0.45)):
            shown = gold if rng.random() > noise else 1 - gold
            rows.append({"text": f"{lang} item {g} {'+' if shown else '-'}", "label": f"LABEL_{gold}", "lang": lang, "group_id": g})
    path = _write_csv(tmp_path / "data.csv", rows)
    result = ConsistencyProbe(languages=["fr"], dataset=path).run(clf)
    table = {r["lang"]: r for r in result.tables["dataset_languages"]}
    for lang in ("en", "fr", "yo"):
        y = np.array([int(r["label"][-1]) for r in rows if r["lang"] == lang])
        p = np.array([int("+" in r["text"]) for r in rows if r["lang"] == lang])
        assert table[lang]["accuracy"] == pytest.approx(np.mean(y == p), abs=1e-4)
        assert table[lang]["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"), abs=1e-4)
        assert result.metric("accuracy", lang).n == 30
    best = max(table.values(), key=lambda r: r["accuracy"])
    assert table["yo"]["gap_to_best"] == pytest.approx(best["accuracy"] - table["yo"]["accuracy"], abs=1e-4)
    preds = {}
    for r in rows:
        preds.setdefault(r["group_id"], set()).add(int("+" in r["text"]))
    assert result.metric("translation_agreement").value == pytest.approx(np.mean([len(s) == 1 for s in preds.values()]))
    assert "agreement" in {m.name for m in result.metrics}  # the parallel-names part is still there


def test_dataset_problems_are_one_line_errors(tiny, tmp_path):
    clf = tiny("bert-classifier")
    rows = [{"text": "a", "label": "LABEL_0", "lang": "en", "group_id": 1}]
    no_lang = _write_csv(tmp_path / "no_lang.csv", rows, columns=("text", "label", "group_id"))
    with pytest.raises(AuditError, match="has no column 'lang'"):
        ConsistencyProbe(dataset=no_lang).validate(clf)
    bad_label = _write_csv(tmp_path / "bad.csv", [{**rows[0], "label": "happy"}])
    with pytest.raises(AuditError, match="unknown label"):
        ConsistencyProbe(dataset=bad_label).validate(clf)
    with pytest.raises(AuditError, match="not found"):
        ConsistencyProbe(dataset=str(tmp_path / "missing.csv")).validate(clf)
    (tmp_path / "data.txt").write_text("text,label,lang\n")
    with pytest.raises(AuditError, match="unsupported extension"):
        ConsistencyProbe(dataset=str(tmp_path / "data.txt")).validate(clf)


def test_causal_bits_per_byte_match_a_direct_forward_pass(tiny):
    lm = tiny("gpt2")
    result = PerplexityProbe(languages=["en", "fr", "ru"], max_chars=40).run(lm)
    langs = resolve(["en", "fr", "ru"])
    texts = fit(lm, [excerpt(x.sample, 40) for x in langs], causal=True)
    bos = lm.tokenizer.bos_token_id
    for lang, text in zip(langs, texts):
        ids = torch.tensor([[bos] + lm.tokenizer(text, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            lp = lm.model(ids).logits.log_softmax(-1)[0, :-1].gather(1, ids[0, 1:, None])[:, 0]
        bpb = -float(lp.sum()) / math.log(2) / len(text.encode())
        row = next(r for r in result.tables["languages"] if r["code"] == lang.code)
        assert row["bits_per_byte"] == pytest.approx(bpb, rel=1e-3)
    assert result.metric("bits_per_byte", "ru_Cyrl").value > 0


def test_masked_pseudo_perplexity_per_character_matches_masking_each_token_by_hand(tiny):
    mlm = tiny("bert-mlm")
    result = PerplexityProbe(languages=["en", "de"], max_chars=30).run(mlm)
    tok = mlm.tokenizer
    for lang in resolve(["en", "de"]):
        text = fit(mlm, [excerpt(lang.sample, 30)], causal=False)[0]
        ids = tok(text)["input_ids"]
        total = 0.0
        for i in range(1, len(ids) - 1):
            masked = list(ids)
            masked[i] = tok.mask_token_id
            with torch.no_grad():
                logits = mlm.model(torch.tensor([masked])).logits[0, i]
            total += float(logits.log_softmax(-1)[ids[i]])
        row = next(r for r in result.tables["languages"] if r["code"] == lang.code)
        assert row["pseudo_perplexity_per_char"] == pytest.approx(math.exp(-total / len(text)), rel=1e-3)


def test_default_model_retrieval_and_consistency(default_model):
    retrieval = RetrievalProbe(languages=NAMED).run(default_model)
    acc = {r["code"]: r["accuracy"] for r in retrieval.tables["languages"]}
    assert set(acc) == {x.code for x in resolve(NAMED)}
    assert all(0.0 <= a <= 1.0 for a in acc.values())
    assert acc["am_Ethi"] <= acc["fr_Latn"]  # names MiniLM cannot read do no better than names it can
    assert retrieval.charts and retrieval.headline.startswith("The encoder finds")
    consistency = ConsistencyProbe(languages=NAMED).run(default_model)
    assert 0.0 <= consistency.metric("mean_agreement").value <= 1.0
    assert default_model.engine.stats.cache_hits > 0  # the same names were embedded once for both probes


@pytest.mark.parametrize("probe", [RetrievalProbe, ConsistencyProbe])
def test_unknown_language_is_refused_with_close_matches(default_model, probe):
    with pytest.raises(AuditError, match="did you mean 'fr_Latn'"):
        probe(languages=["fr_Latm"]).validate(default_model)


def test_retrieval_refuses_a_language_without_names_of_its_own(default_model):
    no_names = next(x.code for x in registry().values() if x.sample and x.cldr_locale is None)
    with pytest.raises(AuditError, match="no CLDR names of its own"):
        RetrievalProbe(languages=[no_names]).validate(default_model)
