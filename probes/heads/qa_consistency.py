"""multilingual.qa_consistency: does a QA model give the same answer to the same question in other languages?

Each item puts two countries in one context ("… was born in Kenya but has lived in Poland for ten
years") and asks for one of them, in English, German, Spanish and French, with the country names
taken from CLDR through ``babel`` for each language. Which country the answer names (by character
overlap with each country's place in the context) is compared across languages.
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from audit.errors import unknown_name
from audit.gates import MetricSpec, Threshold
from audit.results import Case, Chart, Metric, ProbeResult, case_id, case_values
from audit.stats import too_few, wilson_interval
from probes.base import Probe, param, register_probe
from probes.heads.common import rounded

TEMPLATES: dict[str, dict[str, str]] = {
    "en": {"context": "{P} was born in {T1} but has lived in {T2} for ten years.",
           "born": "Where was {P} born?", "lives": "Where does {P} live now?"},
    "de": {"context": "{P} wurde in {T1} geboren, lebt aber seit zehn Jahren in {T2}.",
           "born": "Wo wurde {P} geboren?", "lives": "Wo lebt {P} jetzt?"},
    "es": {"context": "{P} nació en {T1}, pero vive en {T2} desde hace diez años.",
           "born": "¿Dónde nació {P}?", "lives": "¿Dónde vive {P} ahora?"},
    "fr": {"context": "{P} est originaire du pays suivant : {T1}. Depuis dix ans, {P} habite dans le pays suivant : {T2}.",
           "born": "De quel pays {P} est-elle originaire ?", "lives": "Dans quel pays {P} habite-t-elle ?"},
}
"""Our own parallel wording (CC0). The French frame avoids the country-specific prepositions (en, au, aux)."""

TERRITORIES = ("DE", "FR", "ES", "IT", "JP", "CN", "IN", "BR", "CA", "MX", "EG", "KE", "NG", "AR", "PL", "GR")
"""Countries whose names take no article in the German and Spanish frames."""
PEOPLE = ("Maria", "Amina", "Elena", "Sofia")


def build_items(languages: list[str], limit: int, seed: int) -> list[dict[str, Any]]:
    """Parallel items: (person, birth country, home country, question) rendered in every language."""
    from babel import Locale

    names = {lang: Locale(lang).territories for lang in languages}
    rng = np.random.default_rng(seed)
    combos = list(itertools.permutations(TERRITORIES, 2))
    chosen = [combos[i] for i in rng.choice(len(combos), min(limit, len(combos)), replace=False)]
    items = []
    for k, (t1, t2) in enumerate(chosen):
        person, ask = PEOPLE[k % len(PEOPLE)], ("born", "lives")[k % 2]
        per_lang = {}
        for lang in languages:
            tpl = TEMPLATES[lang]
            n1, n2 = names[lang][t1], names[lang][t2]
            context = tpl["context"].format(P=person, T1=n1, T2=n2)
            s1 = context.index(n1)
            s2 = context.index(n2, s1 + len(n1))
            per_lang[lang] = {"context": context, "question": tpl[ask].format(P=person),
                              "spans": {"born": (s1, s1 + len(n1)), "lives": (s2, s2 + len(n2))},
                              "expected": n1 if ask == "born" else n2}
        items.append({"ask": ask, "codes": (t1, t2), "langs": per_lang})
    return items


def entity_of(answer: dict[str, Any], spans: dict[str, tuple[int, int]]) -> str:
    """Which country the answer span covers most ("born", "lives"), or "other"."""
    best, overlap = "other", 0
    for key, (s, e) in spans.items():
        o = min(e, answer["end"]) - max(s, answer["start"])
        if o > overlap:
            best, overlap = key, o
    return best


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD's token F1 (lower-cased, whitespace tokens, punctuation stripped)."""
    clean = lambda t: [w.strip(".,:;!?¿¡()").lower() for w in t.split() if w.strip(".,:;!?¿¡()")]  # noqa: E731
    p, r = clean(prediction), clean(reference)
    common = sum(min(p.count(w), r.count(w)) for w in set(p))
    if not p or not r or not common:
        return float(p == r)
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall)


@register_probe
class QAConsistencyProbe(Probe):
    name = "multilingual.qa_consistency"
    suite = "multilingual"
    title = "Question answering across languages"
    requires = frozenset({"qa"})
    card = {
        "what": "Asks the same question about the same context in English, German, Spanish and French (country names "
                "from CLDR in each language) and checks that the answer is right and names the same country in every "
                "language.",
        "how_to_read": "accuracy per language: the answer names the asked-for country; f1: SQuAD token F1 against its "
                       "name; agreement_with_en: the answer names the same country (or the same wrong span kind) as the "
                       "English answer; consistency: share of items answered alike in all languages. Wilson 95% "
                       "intervals. A model that is not multilingual answers well in English only.",
        "sources": ["Lewis et al. 2020, MLQA: Evaluating Cross-lingual Extractive Question Answering (ACL).",
                    "Artetxe et al. 2020, XQuAD (ACL): parallel QA across languages.",
                    "Unicode CLDR via babel: country names."],
        "limits": ["One simple frame per language with two candidate answers; real documents are harder.",
                   "An answer that overlaps neither country counts as 'other' in every language alike."],
    }
    default_thresholds = (Threshold("consistency", 0.8),)
    metric_specs = (
        MetricSpec("accuracy", higher_is_better=True, groups="language"),
        MetricSpec("f1", higher_is_better=True, groups="language"),
        MetricSpec("agreement_with_en", higher_is_better=True, groups="language"),
        MetricSpec("consistency", higher_is_better=True, proportion=1.0),
    )

    languages: list[str] | None = param(None, "languages the questions are asked in; unset: the built-in set")
    max_answer_len: int = param(10, "longest answer span, in tokens")
    max_cases: int | None = param(24, "cap on the questions run (a seeded sample)")

    def validate(self, model: Any) -> None:
        super().validate(model)
        for lang in self.languages or []:
            if lang not in TEMPLATES:
                raise unknown_name("QA language", lang, TEMPLATES)

    def _run(self, model: Any) -> ProbeResult:
        langs = list(dict.fromkeys(["en", *(self.languages or TEMPLATES)]))
        items = build_items(langs, self.max_cases or 24, self.seed)
        flat = [(i, lang) for i in range(len(items)) for lang in langs]
        answers = model.answer([items[i]["langs"][lang]["question"] for i, lang in flat],
                               [items[i]["langs"][lang]["context"] for i, lang in flat], max_answer_len=self.max_answer_len)
        picked: dict[tuple[int, str], str] = {}
        f1: dict[tuple[int, str], float] = {}
        for (i, lang), a in zip(flat, answers):
            picked[(i, lang)] = entity_of(a, items[i]["langs"][lang]["spans"])
            f1[(i, lang)] = token_f1(a["answer"], items[i]["langs"][lang]["expected"])
        n = len(items)
        metrics, rows = [], []
        accuracy: list[tuple[str, float, tuple[float, float]]] = []  # (language, accuracy, its interval)
        ids = [case_id(items[i]["langs"]["en"]["question"], items[i]["langs"]["en"]["context"]) for i in range(n)]
        per_case: dict[str, dict[str, float]] = {}
        for lang in langs:
            ok = sum(picked[(i, lang)] == items[i]["ask"] for i in range(n))
            agree = sum(picked[(i, lang)] == picked[(i, "en")] for i in range(n))
            mean_f1 = float(np.mean([f1[(i, lang)] for i in range(n)]))
            accuracy.append((lang, ok / n, wilson_interval(ok, n)))
            metrics.append(Metric("accuracy", ok / n, wilson_interval(ok, n), higher_is_better=True, n=n, unit="share", group=lang,
                                  description="share of answers naming the asked-for country"))
            metrics.append(Metric("f1", mean_f1, None, higher_is_better=True, n=n, group=lang, description="SQuAD token F1"))
            if lang != "en":
                metrics.append(Metric("agreement_with_en", agree / n, wilson_interval(agree, n), higher_is_better=True, n=n,
                                      unit="share", group=lang, description="share of items answered like English"))
            per_case[f"accuracy[{lang}]"] = case_values(ids, [picked[(i, lang)] == items[i]["ask"] for i in range(n)])
            per_case[f"f1[{lang}]"] = case_values(ids, [f1[(i, lang)] for i in range(n)])
            if lang != "en":
                per_case[f"agreement_with_en[{lang}]"] = case_values(ids, [picked[(i, lang)] == picked[(i, "en")] for i in range(n)])
            rows.append({"language": lang, "n": n, "accuracy": rounded(ok / n), "f1": rounded(mean_f1),
                         "agreement_with_en": rounded(agree / n) if lang != "en" else None})
        same = sum(len({picked[(i, lang)] for lang in langs}) == 1 for i in range(n))
        metrics.append(Metric("consistency", same / n, wilson_interval(same, n), higher_is_better=True, n=n, unit="share",
                              description="share of items answered alike in every language"))
        per_case["consistency"] = case_values(ids, [len({picked[(i, lang)] for lang in langs}) == 1 for i in range(n)])
        cases: list[Case] = []
        for i in range(n):
            for lang in langs[1:]:
                if picked[(i, lang)] != picked[(i, "en")] and len(cases) < 8:
                    a = answers[flat.index((i, lang))]
                    en = items[i]["langs"]["en"]
                    cases.append(Case(items[i]["langs"][lang]["context"], 1.0,
                                      f"in {lang} the answer is {a['answer']!r}; in English it names the {picked[(i, 'en')]} country",
                                      target=a["answer"], pair=en["context"],
                                      meta={"question": items[i]["langs"][lang]["question"], "language": lang,
                                            "answer_start": a["start"], "answer_end": a["end"], "pair_question": en["question"]}))
        warnings = [f"only {n} items: too few to conclude"] if too_few(n) else []
        headline = (f"The same question gets the same answer in all {len(langs)} languages for {same / n:.0%} of items; "
                    f"English accuracy {rows[0]['accuracy']:.0%}.")
        chart = Chart("bar", "Accuracy per language", "language", "accuracy",
                      [{"label": lang, "value": value, "low": ci[0], "high": ci[1]} for lang, value, ci in accuracy],
                      alt=headline)
        return ProbeResult(self.name, self.suite, self.title, headline, metrics=tuple(metrics), tables={"by_language": rows},
                           charts=(chart,), cases=tuple(cases), warnings=tuple(warnings), per_case=per_case)
