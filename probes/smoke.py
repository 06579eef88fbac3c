"""robustness.perturbation: do meaning-preserving edits change the model's output?

The first probe through the whole spine (adapter primitives → metrics with CIs → gates → cases). It
serves classifiers (label flips) and encoders (cosine similarity to the unedited text).
"""
from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np

from audit.errors import unknown_name
from audit.gates import MetricSpec, Threshold
from audit.results import Case, Chart, Metric, ProbeResult, case_id, case_values
from audit.stats import bootstrap_ci, too_few, wilson_interval
from probes.base import Probe, param, register_probe

SENTENCES = (
    "The hotel room was clean and the staff were friendly.",
    "I waited two hours and nobody answered my call.",
    "The film starts slowly but the ending is moving.",
    "This phone stopped working after a week.",
    "Our guide explained the history of the old bridge.",
    "The soup was cold and far too salty.",
    "She finished the report before the meeting started.",
    "The new update made the app much faster.",
    "The train was delayed again this morning.",
    "He thanked the neighbours for their help with the garden.",
    "The concert was loud, crowded and wonderful.",
    "My order arrived damaged and the refund took weeks.",
    "The museum opens at nine on weekdays.",
    "The teacher praised the students for their careful work.",
    "The battery lasts all day, even with heavy use.",
    "The instructions were confusing and incomplete.",
    "We walked along the river until sunset.",
    "The customer service team solved my problem quickly.",
    "The book is long, but every chapter is worth it.",
    "The printer jams every time I use it.",
    "The children played in the park after school.",
    "The restaurant was quiet and the food was excellent.",
    "The flight was cancelled without any explanation.",
    "The library extended its opening hours this year.",
)
"""Our own sentences (CC0): varied topics and sentiment, one clause or two."""


def _typo(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long:
        return text
    i = rng.choice(long)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


PERTURBATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "whitespace": lambda t, r: t.replace(" ", "  "),
    "lowercase": lambda t, r: t.lower(),
    "no_final_punctuation": lambda t, r: t.rstrip(".!?"),
    "typo": _typo,
}


@register_probe
class PerturbationProbe(Probe):
    name = "robustness.perturbation"
    suite = "robustness"
    title = "Robustness to meaning-preserving edits"
    requires_any = (frozenset({"class_probs"}), frozenset({"embed"}))
    card = {
        "what": "Applies small edits that keep the meaning (double spaces, lower-casing, dropping the final full stop, "
                "one swapped letter) to varied sentences and measures how often a classifier's label flips, or how far an "
                "encoder's embedding moves (cosine similarity to the unedited sentence).",
        "how_to_read": "A flip rate near 0 and a similarity near 1 are good. Flip rates carry Wilson 95% intervals over the "
                       "sentences; similarities carry bootstrap 95% intervals.",
        "sources": ["Ribeiro et al. 2020, Beyond Accuracy: Behavioral Testing of NLP Models with CheckList (invariance tests)"],
        "limits": ["English sentences only; 24 built-in sentences unless `texts` is given.",
                   "An uncased tokenizer is invariant to lower-casing by construction."],
    }
    default_thresholds = (Threshold("flip_rate", 0.2),)
    metric_specs = (
        MetricSpec("flip_rate", higher_is_better=False, groups="edit", proportion=1.0),
        MetricSpec("similarity", higher_is_better=True, groups="edit"),
    )

    texts: list[str] | None = param(None, "sentences to edit; unset: the 24 built-in ones")
    perturbations: list[str] | None = param(None,
                 "edits to apply (whitespace, lowercase, no_final_punctuation, typo); unset: all")

    def validate(self, model) -> None:
        from audit.errors import AuditError

        super().validate(model)
        for p in self.perturbations or []:
            if p not in PERTURBATIONS:
                raise unknown_name("perturbation", p, PERTURBATIONS)
        if self.texts is not None and not [t for t in self.texts if t.strip()]:
            raise AuditError(f"{self.name}: `texts` is empty; give at least one sentence or leave it unset")

    def _run(self, model) -> ProbeResult:
        texts = [t for t in (self.texts or SENTENCES) if t.strip()][: self.max_cases or None]
        kinds = self.perturbations or list(PERTURBATIONS)
        rng = random.Random(self.seed)
        edited = {k: [PERTURBATIONS[k](t, rng) for t in texts] for k in kinds}
        classify = "class_probs" in model.capabilities
        fn = model.class_probs if classify else model.embed
        base = fn(texts)
        outs = fn([e for k in kinds for e in edited[k]])
        metrics, rows, cases, warnings = [], [], [], []
        shown: list[tuple[str, float, tuple[float, float]]] = []  # (edit, value, ci) of each metric, in order
        ids = [case_id(t) for t in texts]
        per_case: dict[str, dict[str, float]] = {}
        for j, k in enumerate(kinds):
            o = outs[j * len(texts) : (j + 1) * len(texts)]
            if classify:
                flips = base.argmax(1) != o.argmax(1)
                change = np.abs(base - o).max(1)
                value, ci = float(flips.mean()), wilson_interval(int(flips.sum()), len(texts))
                metrics.append(Metric("flip_rate", value, ci, higher_is_better=False, n=len(texts),
                                      group=k, unit="share", description="share of sentences whose predicted label changes"))
                score = change
            else:
                a = base / np.linalg.norm(base, axis=1, keepdims=True).clip(1e-12)
                b = o / np.linalg.norm(o, axis=1, keepdims=True).clip(1e-12)
                sim = (a * b).sum(1)
                value, ci = float(sim.mean()), bootstrap_ci(sim, seed=self.seed)
                metrics.append(Metric("similarity", value, ci, higher_is_better=True,
                                      n=len(texts), group=k, unit="cosine", description="mean cosine similarity to the unedited sentence"))
                score = 1.0 - sim
            shown.append((k, value, ci))
            per_case[metrics[-1].key] = case_values(ids, flips if classify else sim)
            rows.append({"perturbation": k, "metric": metrics[-1].name, "value": round(value, 4),
                         "ci_low": round(ci[0], 4), "ci_high": round(ci[1], 4), "n": len(texts)})
            for i in np.argsort(-score)[:2]:
                if score[i] > 1e-6:
                    target = model.labels[int(base[i].argmax())] if classify else None
                    cases.append(Case(edited[k][i], float(score[i]), f"{k} edit changed the output by {score[i]:.3f}",
                                      target=target, pair=texts[i], meta={"perturbation": k}))
        if too_few(len(texts)):
            warnings.append(f"only {len(texts)} sentences: too few to conclude")
        name = "flip_rate" if classify else "similarity"
        worst_edit, worst_value, _ = max(shown, key=lambda s: s[1] if classify else -s[1])
        headline = (f"The label flips for {worst_value:.0%} of sentences under the '{worst_edit}' edit (the worst of {len(kinds)})."
                    if classify else f"Embeddings stay at cosine ≥ {min(s[1] for s in shown):.3f} of the unedited sentence under every edit.")
        chart = Chart("bar", f"{name.replace('_', ' ')} by edit", "edit", name.replace("_", " "),
                      [{"label": edit, "value": value, "low": ci[0], "high": ci[1]} for edit, value, ci in shown],
                      alt=headline)
        cases.sort(key=lambda c: -c.score)
        return ProbeResult(self.name, self.suite, self.title, headline, metrics=tuple(metrics), tables={"by_edit": rows},
                           charts=(chart,), cases=tuple(cases[:8]), warnings=tuple(warnings), per_case=per_case)
