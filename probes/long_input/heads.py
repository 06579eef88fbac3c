"""Long inputs for question answering and summarization.

long_input.qa: a fact sentence is placed at relative depths inside neutral filler of growing length and a
question about it is asked; exact match and F1 (SQuAD normalisation) against the gold answer, and agreement
with the answer the model gives on the fact alone, by length × depth, truncation against the sliding
windows the transformers QA pipeline uses.

long_input.summary: the same facts in documents for a seq2seq model; the fact's log-likelihood as the
summary of the document with the fact minus that of the same document without it. A fact the model reads
raises its own likelihood; a fact past the truncation limit changes nothing (exactly zero).
"""
from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any

import numpy as np

from audit.gates import MetricSpec, Threshold
from audit.results import Case, Chart, Metric, ProbeResult
from audit.stats import benjamini_hochberg, paired_permutation_test
from probes.base import param, register_probe
from probes.long_input import haystack, measures
from probes.long_input.grid_probe import GridProbe

FACTS: tuple[tuple[str, str, str], ...] = (
    ("The lighthouse keeper's cat is named Biscuit.", "What is the lighthouse keeper's cat named?", "Biscuit"),
    ("Marta hid the spare key under the blue flowerpot.", "Where did Marta hide the spare key?", "under the blue flowerpot"),
    ("The bridge over the Tamsel river was built from red granite.", "What was the bridge over the Tamsel river built from?", "red granite"),
    ("The village choir rehearses every Thursday evening.", "When does the village choir rehearse?", "every Thursday evening"),
)
"""(fact, question, answer): our own sentences (CC0), about nothing the filler mentions."""


def normalise(text: str) -> str:
    """SQuAD answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def f1(prediction: str, gold: str) -> float:
    p, g = normalise(prediction).split(), normalise(gold).split()
    common = sum((Counter(p) & Counter(g)).values())
    if not p or not g:
        return float(p == g)
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def _cell_rows(cells: dict[tuple[str, int, float], list[float]], what: str, seed: int, proportion: bool) -> list[dict[str, Any]]:
    rows = []
    for (strategy, length, depth), values in sorted(cells.items()):
        m = measures.proportion(values) if proportion else measures.mean_with_ci(values, seed)
        rows.append({"strategy": strategy, "length": length, "depth": depth, what: m["value"],
                     "ci_low": m["low"], "ci_high": m["high"], "n": m["n"]})
    return rows


def _heatmap(title: str, label: str, rows: list[dict[str, Any]], key: str, strategy: str, lengths: list[int],
             depths: list[float]) -> Chart:
    table = {(r["length"], r["depth"]): r[key] for r in rows if r["strategy"] == strategy}
    return Chart("heatmap", title, "depth of the fact (0 = start, 1 = end)", "input length (tokens)",
                 {"rows": [str(n) for n in lengths], "cols": [f"{d:g}" for d in depths],
                  "values": [[table.get((n, d)) for d in depths] for n in lengths]},
                 alt=f"{label} by input length and depth of the fact, {strategy}.")


@register_probe
class LongQAProbe(GridProbe):
    name = "long_input.qa"
    suite = "long-input"
    title = "Question answering over long contexts: where the answer gets lost"
    requires = frozenset({"qa"})
    card = {
        "what": "Places a fact at depths 0–1 inside neutral filler of growing length (counted in the model's tokens, up to "
                "twice its limit) and asks a question about it. Reports exact match and F1 against the gold answer, and "
                "agreement with the answer the model gives on the fact alone, for truncation (the first window only) and "
                "the sliding windows of the transformers QA pipeline.",
        "how_to_read": "Exact match falling with length or depth means the model loses the answer in long contexts; "
                       "truncation drops to zero once the fact lies past the first window, windows should not. Agreement "
                       "with the fact-alone answer separates 'lost in the context' from 'never knew'.",
        "sources": ["Liu et al. 2023, Lost in the Middle", "Rajpurkar et al. 2016, SQuAD (exact match and F1)",
                    "transformers QuestionAnsweringPipeline (windows and stride)"],
        "limits": ["4 built-in facts in English; intervals are wide with the default grid.",
                   "The length counts the context only; the question adds its own tokens to every window."],
    }
    default_thresholds = (Threshold("exact_match_drop", 0.2),)
    metric_specs = (MetricSpec("exact_match_at_longest", higher_is_better=True, groups="strategy"),
                    MetricSpec("exact_match_drop", higher_is_better=False, groups="strategy"))

    strategies: tuple[str, ...] = param(("truncate", "window"), "long-text strategies compared for the answer span")

    def validate(self, model) -> None:
        from audit.errors import unknown_name

        super().validate(model)
        for s in self.strategies:
            if s not in ("truncate", "window"):
                raise unknown_name("QA strategy", s, ("truncate", "window"))
        self.needle_grid(model, [f for f, _, _ in FACTS])

    def _run(self, model) -> ProbeResult:
        facts = list(FACTS[: self.max_cases] if self.max_cases else FACTS)
        limit, lengths, warnings = self.needle_grid(model, [f for f, _, _ in facts])
        stacks = haystack.build(model.engine, [f for f, _, _ in facts], lengths, self.depths, self.seed)
        alone = model.answer([q for _, q, _ in facts], [f for f, _, _ in facts])
        em: dict[tuple[str, int, float], list[float]] = {}
        agree: dict[tuple[str, int, float], list[float]] = {}
        scores: dict[tuple[str, int, float], list[float]] = {}
        cases = []
        for strategy in self.strategies:
            answers = model.answer([facts[h.needle][1] for h in stacks], [h.text for h in stacks], strategy=strategy)
            for h, a in zip(stacks, answers):
                gold = facts[h.needle][2]
                key = (strategy, h.length, h.depth)
                em.setdefault(key, []).append(float(normalise(a["answer"]) == normalise(gold)))
                scores.setdefault(key, []).append(f1(a["answer"], gold))
                agree.setdefault(key, []).append(float(normalise(a["answer"]) == normalise(alone[h.needle]["answer"])))
                if strategy == self.strategies[0] and normalise(a["answer"]) != normalise(alone[h.needle]["answer"]):
                    cases.append(Case(h.text, float(h.length), f"answer changed from {alone[h.needle]['answer']!r} to "
                                      f"{a['answer']!r} at {h.length} tokens, depth {h.depth:g}", target=alone[h.needle]["answer"],
                                      pair=facts[h.needle][0], meta={"question": facts[h.needle][1], "kind": "qa",
                                                                     "length": h.length, "depth": h.depth}))
        rows = _cell_rows(em, "exact_match", self.seed, True)
        f1_rows = _cell_rows(scores, "f1", self.seed, False)
        agree_rows = _cell_rows(agree, "agreement", self.seed, True)
        metrics = []
        short, longest = lengths[0], lengths[-1]
        p_values = []
        for strategy in self.strategies:
            first = [v for (s, n, _), vs in em.items() if s == strategy and n == short for v in vs]
            last = [v for (s, n, _), vs in em.items() if s == strategy and n == longest for v in vs]
            pooled = measures.proportion(last)
            metrics.append(Metric("exact_match_at_longest", pooled["value"], (pooled["low"], pooled["high"]),
                                  higher_is_better=True, n=pooled["n"], group=strategy, unit="share",
                                  description=f"exact match at {longest} tokens, every depth pooled"))
            diffs = np.asarray(first) - np.asarray(last)
            p_values.append(paired_permutation_test(diffs, seed=self.seed))
            drop = measures.mean_with_ci(list(diffs), self.seed)
            metrics.append(Metric("exact_match_drop", drop["value"], (drop["low"], drop["high"]), higher_is_better=False,
                                  n=drop["n"], group=strategy, unit="share",
                                  description=f"exact match at {short} tokens minus at {longest} tokens, paired by fact and depth"))
        for m, q in zip([m for m in metrics if m.name == "exact_match_drop"], benjamini_hochberg(p_values)):
            metrics[metrics.index(m)] = Metric(**{**m.__dict__, "p_value": q})
        seen = [haystack.needle_seen(h, "truncate", limit, model.engine) for h in stacks]
        by = {m.group: m.value for m in metrics if m.name == "exact_match_at_longest"}
        headline = (f"At {longest} tokens (the model reads {limit}), exact match is "
                    + ", ".join(f"{v:.0%} with {s}" for s, v in by.items())
                    + f"; the fact lies past the first window in {1 - np.mean(seen):.0%} of the inputs.")
        charts = tuple(_heatmap(f"Exact match by length and depth ({s})", "Exact match", rows, "exact_match", s, lengths, list(self.depths))
                       for s in self.strategies)
        cases.sort(key=lambda c: -c.score)
        return ProbeResult(self.name, self.suite, self.title, headline, metrics=tuple(metrics),
                           tables={"exact_match": rows, "f1": f1_rows, "agreement_with_fact_alone": agree_rows},
                           charts=charts, cases=tuple(cases[:8]), warnings=tuple(warnings))


@register_probe
class LongSummaryProbe(GridProbe):
    name = "long_input.summary"
    metric_specs = (MetricSpec("mean_gain", higher_is_better=True, groups="length"),
                    MetricSpec("max_abs_gain_past_limit", higher_is_better=False))
    suite = "long-input"
    title = "Summarization over long documents: does a fact still reach the summary"
    requires = frozenset({"seq2seq_scores"})
    card = {
        "what": "Places a fact at depths 0–1 inside neutral filler of growing length and scores the fact as the summary: "
                "its log-likelihood given the document minus given the same document without the fact. Positive means the "
                "model read the fact and would keep it.",
        "how_to_read": "The gain shrinking with length or depth shows where the model stops reading; it is exactly zero "
                       "once the fact lies past the truncation limit (the encoder sees the same tokens either way).",
        "sources": ["Liu et al. 2023, Lost in the Middle", "arXiv 2412.15241 (position sensitivity)"],
        "limits": ["4 built-in facts in English; the likelihood of a reference sentence stands in for generated summaries."],
    }
    default_thresholds = ()

    def validate(self, model) -> None:
        super().validate(model)
        self.needle_grid(model, [f for f, _, _ in FACTS])

    def _run(self, model) -> ProbeResult:
        facts = [f for f, _, _ in (FACTS[: self.max_cases] if self.max_cases else FACTS)]
        limit, lengths, warnings = self.needle_grid(model, facts)
        stacks = haystack.build(model.engine, facts, lengths, self.depths, self.seed)
        without = [" ".join(h.text.replace(facts[h.needle], " ").split()) for h in stacks]
        targets = [facts[h.needle] for h in stacks]
        with_fact = model.target_scores([h.text for h in stacks], targets)
        no_fact = model.target_scores(without, targets)
        gain: dict[tuple[str, int, float], list[float]] = {}
        kept: dict[tuple[str, int, float], list[float]] = {}
        cases = []
        for h, a, b in zip(stacks, with_fact, no_fact):
            g = a.total - b.total
            gain.setdefault(("truncate", h.length, h.depth), []).append(g)
            kept.setdefault(("truncate", h.length, h.depth), []).append(float(g > 0))
            if g <= 0:
                cases.append(Case(h.text, float(-g), f"the fact does not raise its own likelihood at {h.length} tokens, "
                                  f"depth {h.depth:g} (gain {g:.3f})", target=facts[h.needle], pair=facts[h.needle],
                                  meta={"kind": "seq2seq_target", "length": h.length, "depth": h.depth}))
        rows = _cell_rows(gain, "gain", self.seed, False)
        kept_rows = _cell_rows(kept, "kept", self.seed, True)
        lead, trail = (len(part) for part in model.engine.special_frame())
        room = limit - lead - trail
        past = [a.total - b.total for h, a, b in zip(stacks, with_fact, no_fact) if h.needle_start - lead >= room]
        metrics = []
        for n in lengths:
            vals = [v for (_, length, _), vs in gain.items() if length == n for v in vs]
            m = measures.mean_with_ci(vals, self.seed)
            metrics.append(Metric("mean_gain", m["value"], (m["low"], m["high"]), higher_is_better=True, n=m["n"],
                                  group=str(n), unit="nats", description=f"log-likelihood gain of the fact at {n} tokens"))
        if past:
            metrics.append(Metric("max_abs_gain_past_limit", float(np.max(np.abs(past))), higher_is_better=False, n=len(past),
                                  unit="nats", description="should be exactly 0: the fact lies past the truncation limit"))
        headline = (f"The fact raises its own likelihood as a summary by {metrics[0].value:.2f} nats at {lengths[0]} tokens and "
                    f"{metrics[len(lengths) - 1].value:.2f} at {lengths[-1]} (the model reads {limit}); "
                    + (f"past the limit the gain is {max(abs(v) for v in past):.3g} (0 expected)." if past else "no fact lies past the limit."))
        chart = _heatmap("Likelihood gain of the fact by length and depth", "Log-likelihood gain (nats)", rows, "gain",
                         "truncate", lengths, list(self.depths))
        cases.sort(key=lambda c: -c.score)
        return ProbeResult(self.name, self.suite, self.title, headline, metrics=tuple(metrics),
                           tables={"gain": rows, "kept": kept_rows}, charts=(chart,), cases=tuple(cases[:8]),
                           warnings=tuple(warnings))
