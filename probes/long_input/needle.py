"""Needle in a haystack for classifiers: where the model stops reading and which long-text remedy keeps it reading.

A short decisive sentence (the needle) is classified alone; its label there is the reference. The same
needle is then placed at relative depths inside neutral filler at lengths on a log grid up to twice the
model's limit, and classified with each long-text strategy of the engine (silent truncation, head, tail,
head+tail, sliding windows averaged or max-confidence).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from audit.errors import AuditError, unknown_name
from audit.gates import MetricSpec
from audit.long_text import LONG_TEXT_STRATEGIES
from audit.results import Case, Chart, Metric, ProbeResult
from audit.stats import MIN_CASES, benjamini_hochberg, paired_permutation_test
from probes.base import param, register_probe
from probes.long_input import haystack
from probes.long_input.grid_probe import GridProbe
from probes.long_input.measures import effective_length, mean_with_ci, proportion, truncation_rows
from probes.long_input.texts import NEEDLES

if TYPE_CHECKING:  # pragma: no cover
    from audit.engine import Engine
    from audit.tasks.base import AuditedModel
    from audit.tasks.text_classification import TextClassifier
    from audit.tasks.zero_shot import ZeroShotClassifier

FILLER_STRONG = 0.9
"""Filler alone classified with at least this confidence carries a label of its own: the test is then biased."""
NEEDLE_WEAK = 0.6
"""Needles classified alone below this mean confidence are not decisive for the model."""


@register_probe
class NeedleProbe(GridProbe):
    name = "long_input.needle"
    metric_specs = (
        MetricSpec("effective_length", higher_is_better=True), MetricSpec("truncation_limit"),
        MetricSpec("share_dropped", higher_is_better=False), MetricSpec("agreement_if_needle_ignored"),
        MetricSpec("agreement_within_limit", higher_is_better=True),
        MetricSpec("confidence_drop_within_limit", higher_is_better=False),
        MetricSpec("agreement_past_limit", higher_is_better=True, groups="strategy L=length"),
        MetricSpec("best_remedy_agreement", higher_is_better=True, groups="strategy"),
        MetricSpec("agreement", higher_is_better=True, groups="L=length d=depth"),
    )
    cases_drive_cost = False
    suite = "long-input"
    title = "Needle in a haystack: where a classifier stops reading"
    requires = frozenset({"class_probs"})
    card = {
        "what": "Whether a classifier still gives a short decisive sentence (the needle) the label it gives it alone "
                "once the needle sits at depths 0, 25, 50, 75 and 100% of neutral filler, at lengths from short to twice "
                "the model's limit (counted in the model's own tokens); where the model silently truncates; and which "
                "long-text strategy (head, tail, head+tail truncation, sliding windows averaged or max-confidence) keeps "
                "the answer.",
        "how_to_read": "Agreement is the share of needles whose label survives (95% Wilson interval); the flip rate is its "
                       "complement; the confidence drop is P(reference label | needle alone) minus P(reference label | "
                       "haystack). The effective length is the longest length up to which agreement stays at or above the "
                       "level (90%) at every depth. Past the truncation limit a needle beyond the cut-off is never seen: "
                       "agreement falls to the share of needles that happen to share the filler's label. Windows over "
                       "the whole input should recover it.",
        "sources": [
            "Liu et al. 2023, Lost in the Middle: How Language Models Use Long Contexts (accuracy against position)",
            "Kamradt 2023, needle-in-a-haystack test (LLMTest_NeedleInAHaystack)",
            "transformers question-answering pipeline: windows of the model limit overlapping by min(window // 2, 128)",
        ],
        "limits": [
            "One filler stream per seed: every needle of a length and depth sits in the same filler, so intervals "
            "reflect the needles, not filler variation; change seed to test another stream.",
            "The default needles are sentiment sentences; for other label sets pass needles that the model labels decisively.",
            "Cells hold one case per needle: with the default 6 needles a cell's interval is wide; pooled figures are firmer.",
        ],
    }

    needles: Sequence[str] | None = param(None,
                 "sentences whose class must survive the long input; unset: built-in ones")
    strategies: Sequence[str] = param(LONG_TEXT_STRATEGIES, "long-text strategies compared with truncation")
    agreement_level: float = param(0.9,
                 "share of agreement with the short input that counts as kept (effective length)")

    def validate(self, model: AuditedModel) -> None:
        super().validate(model)
        self._plan(model)

    def _plan(self, model: AuditedModel) -> tuple[int, list[int], list[str], list[str]]:
        """The limit, the length grid, the needles and warnings; AuditError on bad parameters."""
        needles = list(self.needles if self.needles is not None else NEEDLES)
        limit, grid, warnings = self.needle_grid(model, needles)
        if not self.strategies:
            raise AuditError(f"{self.name}: strategies is empty; pick from {', '.join(LONG_TEXT_STRATEGIES)}")
        for s in self.strategies:
            if s not in LONG_TEXT_STRATEGIES:
                raise unknown_name("long-text strategy", s, LONG_TEXT_STRATEGIES)
        if not 0.0 < self.agreement_level <= 1.0:
            raise AuditError(f"{self.name}: agreement_level must be in (0, 1], got {self.agreement_level}")
        return limit, grid, needles, warnings

    def _run(self, model: AuditedModel) -> ProbeResult:
        model = cast("TextClassifier | ZeroShotClassifier", model)  # requires: the runner hands this probe only models that offer it
        limit, grid, needles, warnings = self._plan(model)
        strategies = list(dict.fromkeys(["truncate", *self.strategies]))
        labels = model.labels
        hays = haystack.build(model.engine, needles, grid, self.depths, self.seed)
        texts = [h.text for h in hays]
        fillers = haystack.filler_only(model.tokenizer, [*grid, limit], self.seed)
        # one call for everything fed as is: the needles alone, the filler alone, the haystacks truncated
        fed = model.class_probs(needles + fillers + texts)
        alone, filler_probs = fed[: len(needles)], fed[len(needles) : len(needles) + len(fillers)]
        probs = {"truncate": fed[len(needles) + len(fillers) :]}
        probs.update({s: model.class_probs(texts, strategy=s) for s in strategies if s != "truncate"})
        ref = alone.argmax(axis=1)
        ref_conf = alone[np.arange(len(needles)), ref]
        if ref_conf.mean() < NEEDLE_WEAK:
            warnings.append(f"the needles are not decisive for this model (mean confidence alone {ref_conf.mean():.2f} < "
                            f"{NEEDLE_WEAK}); pass needles it labels clearly with needles=[...]")
        filler_rows, filler_warn = self._filler_check(filler_probs[:-1], grid, labels)
        warnings += filler_warn
        if "window_mean" in probs and "window_max" in probs:
            long_rows = [i for i, h in enumerate(hays) if h.tokens > limit]
            if long_rows and np.array_equal(probs["window_mean"][long_rows], probs["window_max"][long_rows]):
                warnings.append("window_max gives exactly the window_mean outputs on every multi-window input: this adapter "
                                "does not aggregate by max confidence (see the engine's window aggregation)")
        idx = np.arange(len(hays))
        ref_h = ref[[h.needle for h in hays]]
        agree = {s: p.argmax(axis=1) == ref_h for s, p in probs.items()}
        drop = {s: ref_conf[[h.needle for h in hays]] - p[idx, ref_h] for s, p in probs.items()}

        cells = self._cells(hays, strategies, agree, drop, limit, model.engine)
        truncate_cells = {(r["length"], r["depth"]): r["agreement"] for r in cells if r["strategy"] == "truncate"}
        eff = {s: effective_length({(r["length"], r["depth"]): r["agreement"] for r in cells if r["strategy"] == s},
                                   grid, self.agreement_level) for s in strategies}
        tokens = {n: [h.tokens for h in hays if h.length == n] for n in grid}
        trunc = truncation_rows(grid, tokens, limit)
        remedies = self._remedies(hays, strategies, agree, limit)
        best = self._best(remedies, strategies)
        ignored = float(np.mean(ref == int(np.argmax(filler_probs[-1]))))

        metrics = self._metrics(cells, eff, limit, trunc, remedies, best, ignored, hays, agree, drop, grid)
        if len(needles) < MIN_CASES:
            warnings.append(f"{len(needles)} needles per cell (fewer than {MIN_CASES}): per-cell intervals are wide; read the pooled figures")
        charts = (
            Chart("heatmap", "Agreement with the needle-alone label (silent truncation)", "depth", "length (tokens)",
                  {"rows": [str(n) for n in grid], "cols": [str(d) for d in self.depths],
                   "values": [[truncate_cells[(n, d)] for d in self.depths] for n in grid]},
                  alt=f"Agreement by length and depth; the model truncates at {limit} tokens."),
            Chart("line", "Agreement against length, by long-text strategy", "length (tokens)", "agreement",
                  [{"series": s, "x": n, "y": float(np.mean([agree[s][i] for i, h in enumerate(hays) if h.length == n]))}
                   for s in strategies for n in grid],
                  alt="Agreement pooled over depths for each strategy; windows should hold past the limit."),
        )
        cases = self._cases(hays, needles, probs, agree, drop, ref, labels, limit, model.engine)
        headline = self._headline(eff["truncate"], limit, trunc, best, model)
        return ProbeResult(
            probe=self.name, suite=self.suite, title=self.title, headline=headline, metrics=tuple(metrics),
            tables={"cells": cells, "truncation": trunc, "remedies": remedies,
                    "effective_length": [{"strategy": s, "effective_length": eff[s]} for s in strategies],
                    "needles": [{"needle": n, "label": labels[int(r)], "confidence": round(float(c), 4)}
                                for n, r, c in zip(needles, ref, ref_conf)],
                    "filler": filler_rows},
            charts=charts, cases=tuple(cases), warnings=tuple(warnings),
        )

    # ---- pieces ----------------------------------------------------------------------------------
    @staticmethod
    def _filler_check(probs: np.ndarray, grid: list[int], labels: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
        """The filler alone must not carry a strong label, or the haystack pushes needles one way."""
        rows: list[dict[str, Any]] = [{"length": n, "label": labels[int(p.argmax())], "confidence": round(float(p.max()), 4)}
                                      for n, p in zip(grid, probs)]
        strong = [r for r in rows if r["confidence"] >= FILLER_STRONG]
        warn = [f"the filler alone is labelled {strong[0]['label']!r} with confidence {strong[0]['confidence']:.2f} at "
                f"{strong[0]['length']} tokens: it carries a label of its own for this model, which biases agreement"] if strong else []
        return rows, warn

    def _cells(self, hays: list[haystack.Haystack], strategies: list[str], agree: dict[str, np.ndarray],
               drop: dict[str, np.ndarray], limit: int, engine: Engine) -> list[dict[str, Any]]:
        rows = []
        for s in strategies:
            for n in dict.fromkeys(h.length for h in hays):
                for d in self.depths:
                    sel = [i for i, h in enumerate(hays) if h.length == n and h.depth == d]
                    a = proportion(agree[s][sel])
                    f = proportion(~agree[s][sel])
                    c = mean_with_ci(drop[s][sel], self.seed)
                    rows.append({
                        "strategy": s, "length": n, "depth": d, "n": a["n"],
                        "agreement": a["value"], "agreement_low": a["low"], "agreement_high": a["high"],
                        "flip_rate": f["value"], "flip_rate_low": f["low"], "flip_rate_high": f["high"],
                        "confidence_drop": c["value"], "confidence_drop_low": c["low"], "confidence_drop_high": c["high"],
                        "tokens": round(float(np.mean([hays[i].tokens for i in sel])), 1),
                        "needle_seen": float(np.mean([haystack.needle_seen(hays[i], s, limit, engine) for i in sel])),
                    })
        return rows

    def _remedies(self, hays: list[haystack.Haystack], strategies: list[str], agree: dict[str, np.ndarray],
                  limit: int) -> list[dict[str, Any]]:
        """Per length past the limit: each strategy's agreement pooled over depths, and a paired sign-flip test
        against silent truncation (Benjamini–Hochberg over all lengths and strategies)."""
        rows = []
        for n in dict.fromkeys(h.length for h in hays):
            sel = [i for i, h in enumerate(hays) if h.length == n]
            over = float(np.mean([hays[i].tokens > limit for i in sel])) > 0
            for s in strategies:
                a = proportion(agree[s][sel])
                diff = agree[s][sel].astype(float) - agree["truncate"][sel].astype(float)
                rows.append({"length": n, "strategy": s, "past_limit": over, "n": a["n"], "agreement": a["value"],
                             "agreement_low": a["low"], "agreement_high": a["high"],
                             "gain_vs_truncate": float(diff.mean()),
                             "p_value": paired_permutation_test(diff, seed=self.seed) if s != "truncate" else None})
        tested = [r for r in rows if r["p_value"] is not None and r["past_limit"]]
        for r, q in zip(tested, benjamini_hochberg([r["p_value"] for r in tested])):
            r["q_value"] = q
        return rows

    @staticmethod
    def _best(remedies: list[dict[str, Any]], strategies: list[str]) -> dict[str, Any] | None:
        """The strategy with the highest agreement pooled over every length past the limit (earlier, cheaper
        strategies win ties)."""
        past = [r for r in remedies if r["past_limit"]]
        if not past:
            return None
        scores = {s: float(np.mean([r["agreement"] for r in past if r["strategy"] == s])) for s in strategies}
        name = max(strategies, key=lambda s: (scores[s], -strategies.index(s)))
        return {"strategy": name, "agreement": scores[name], "truncate": scores["truncate"]}

    def _metrics(self, cells: list[dict[str, Any]], eff: dict[str, int | None], limit: int, trunc: list[dict[str, Any]],
                 remedies: list[dict[str, Any]], best: dict[str, Any] | None, ignored: float, hays: list[haystack.Haystack],
                 agree: dict[str, np.ndarray], drop: dict[str, np.ndarray], grid: list[int]) -> list[Metric]:
        within = [i for i, h in enumerate(hays) if h.tokens <= limit]
        n_needles = len({h.needle for h in hays})
        out = [
            Metric("effective_length", eff["truncate"], higher_is_better=True, n=n_needles, unit="tokens",
                   description=f"longest length up to which agreement stays >= {self.agreement_level:.0%} at every depth "
                               "(silent truncation); None when even the shortest length fails"),
            Metric("truncation_limit", limit, unit="tokens", description="tokens the model is fed at most (special tokens included)"),
            Metric("share_dropped", trunc[-1]["share_dropped"], higher_is_better=False, unit="share",
                   description=f"share of the longest input ({grid[-1]} tokens) cut off unseen"),
            Metric("agreement_if_needle_ignored", ignored, unit="share", n=n_needles,
                   description="share of needles whose label equals the filler's: what agreement falls to when the needle is cut off"),
        ]
        if within:
            a = proportion(agree["truncate"][within])
            c = mean_with_ci(drop["truncate"][within], self.seed)
            out.append(Metric("agreement_within_limit", a["value"], (a["low"], a["high"]), higher_is_better=True, n=a["n"],
                              unit="share", description="agreement pooled over every input that fits the limit"))
            out.append(Metric("confidence_drop_within_limit", c["value"], (c["low"], c["high"]), higher_is_better=False,
                              n=c["n"], unit="probability", description="mean drop in the reference label's probability, inputs within the limit"))
        for r in remedies:
            if r["past_limit"]:
                out.append(Metric("agreement_past_limit", r["agreement"], (r["agreement_low"], r["agreement_high"]),
                                  higher_is_better=True, n=r["n"], p_value=r.get("q_value"), unit="share",
                                  group=f"{r['strategy']} L={r['length']}",
                                  description="agreement pooled over depths; p-value: BH-adjusted paired test against truncate"))
        if best is not None:
            out.append(Metric("best_remedy_agreement", best["agreement"], higher_is_better=True, unit="share", group=best["strategy"],
                              description="agreement past the limit of the best strategy, pooled over lengths"))
        for r in cells:
            if r["strategy"] == "truncate":
                out.append(Metric("agreement", r["agreement"], (r["agreement_low"], r["agreement_high"]), higher_is_better=True,
                                  n=r["n"], unit="share", group=f"L={r['length']} d={r['depth']}"))
        return out

    def _cases(self, hays: list[haystack.Haystack], needles: list[str], probs: dict[str, np.ndarray],
               agree: dict[str, np.ndarray], drop: dict[str, np.ndarray], ref: np.ndarray, labels: Sequence[str],
               limit: int, engine: Engine) -> list[Case]:
        """The flips under silent truncation (what an explanation reproduces), the needle alone as the pair; flips
        where the model saw the needle come first, as those are the model's doing rather than truncation's."""
        s = "truncate"
        found = []
        for i, h in enumerate(hays):
            if not agree[s][i]:
                visible = haystack.needle_seen(h, s, limit, engine)
                found.append((not visible, -float(drop[s][i]), i, visible))
        cases = []
        for _, _, i, visible in sorted(found, key=lambda t: t[:2]):
            h = hays[i]
            got = labels[int(probs[s][i].argmax())]
            cases.append(Case(
                text=h.text, score=float(drop[s][i]), target=labels[int(ref[h.needle])], pair=needles[h.needle],
                reason=f"label flips from {labels[int(ref[h.needle])]!r} (needle alone) to {got!r} at {h.tokens} tokens, "
                       f"needle at depth {h.depth:g} ({s}: the model {'sees' if visible else 'never sees'} the needle)",
                meta={"length": h.length, "depth": h.depth, "tokens": h.tokens, "strategy": s, "needle_start": h.needle_start,
                      "needle_end": h.needle_end, "needle_visible": visible, "label": got}))
            if len(cases) >= (self.max_cases or 10):
                break
        return cases

    @staticmethod
    def _headline(eff: int | None, limit: int, trunc: list[dict[str, Any]], best: dict[str, Any] | None,
                  model: AuditedModel) -> str:
        eff_txt = f"Effective length {eff} tokens" if eff is not None else "Agreement is below the level even at the shortest length"
        text = f"{eff_txt}; the model reads at most {limit} tokens ({model.info.provenance.split('; ')[-1]})"
        if trunc[-1]["truncated"]:
            text += f" and silently drops {trunc[-1]['share_dropped']:.0%} of a {trunc[-1]['length']}-token input"
        if best is not None and best["agreement"] > best["truncate"]:
            text += (f"; best remedy past the limit: {best['strategy']} (agreement {best['agreement']:.2f} against "
                     f"{best['truncate']:.2f} truncated)")
        elif best is not None:
            text += f"; no strategy beats silent truncation past the limit (agreement {best['truncate']:.2f})"
        return text + "."
