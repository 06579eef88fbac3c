"""Encoders over long inputs: how far an embedding drifts from a sentence once the sentence sits in filler,
the truncation limit really in force, and a check that text past it changes nothing."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from audit.errors import AuditError, unknown_name
from audit.gates import MetricSpec
from audit.results import Chart, Metric, ProbeResult
from audit.stats import paired_permutation_test
from probes.base import param, register_probe
from probes.long_input import haystack
from probes.long_input.grid_probe import GridProbe
from probes.long_input.measures import mean_with_ci, truncation_rows
from probes.long_input.texts import NEEDLES

if TYPE_CHECKING:  # pragma: no cover
    from audit.tasks.base import AuditedModel
    from audit.tasks.sentence_embedding import SentenceEncoder

EMBED_STRATEGIES = ("truncate", "window_mean")
"""The strategies that mean something for one vector per text (head/tail only move the cut)."""


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True).clip(min=1e-12)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine in float64, written so that identical vectors give exactly 1.0."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


@register_probe
class EncoderProbe(GridProbe):
    name = "long_input.encoder"
    metric_specs = (
        MetricSpec("truncation_limit"), MetricSpec("past_limit_similarity", ideal=1.0),
        MetricSpec("past_limit_max_abs_diff", ideal=0.0), MetricSpec("start_minus_end_similarity", ideal=0.0),
        MetricSpec("similarity", higher_is_better=True, groups="L=length d=depth"),
    )
    cases_drive_cost = False
    suite = "long-input"
    title = "Encoder drift with length and position, and the truncation limit in force"
    requires = frozenset({"embed"})
    card = {
        "what": "Cosine similarity between the embedding of a short sentence alone and of the same sentence placed at "
                "depths 0–100% of neutral filler, at lengths up to twice the model's limit; the truncation limit actually "
                "in force (and where it comes from); and a check that text entirely past the limit leaves the output "
                "unchanged.",
        "how_to_read": "Similarity falls as filler dilutes the sentence; past the limit a sentence beyond the cut-off is "
                       "never seen and similarity drops to that of the filler. start_minus_end_similarity > 0 means a "
                       "sentence near the start weighs more than one near the end. The past-limit check must give "
                       "similarity exactly 1 and a maximum absolute difference of 0, with the same token ids fed.",
        "sources": [
            "arXiv 2412.15241: embedding position sensitivity (text near the start moves an embedding more)",
            "sentence-transformers all-MiniLM-L6-v2: max_seq_length 256 word pieces although its position embeddings reach 512",
        ],
        "limits": [
            "Cosine to the sentence alone mixes dilution with position effects; the filler-only similarity (table "
            "'filler') is the floor to read it against.",
            "window_mean averages window vectors: it bounds dilution by the window size rather than the text length.",
        ],
    }

    needles: Sequence[str] | None = param(None,
                 "sentences whose embedding must survive the long input; unset: built-in ones")
    strategies: Sequence[str] = param(EMBED_STRATEGIES, "long-text strategies for embedding a long input")

    def validate(self, model: AuditedModel) -> None:
        super().validate(model)
        self._plan(model)

    def _plan(self, model: AuditedModel) -> tuple[int, list[int], list[str], list[str]]:
        needles = list(self.needles if self.needles is not None else NEEDLES)
        limit, grid, warnings = self.needle_grid(model, needles)
        for s in self.strategies:
            if s not in EMBED_STRATEGIES:
                raise unknown_name("long-text strategy for embeddings", s, EMBED_STRATEGIES)
        if limit + 8 > self.max_tokens:
            raise AuditError(f"{self.name}: max_tokens={self.max_tokens} leaves no room past the model's limit {limit} "
                             "for the past-limit check; raise max_tokens")
        return limit, grid, needles, warnings

    def _run(self, model: AuditedModel) -> ProbeResult:
        model = cast("SentenceEncoder", model)  # requires: the runner hands this probe only models that offer it
        limit, grid, needles, warnings = self._plan(model)
        strategies = list(dict.fromkeys(["truncate", *self.strategies]))
        alone = _unit(model.embed(needles))
        hays = haystack.build(model.engine, needles, grid, self.depths, self.seed)
        texts = [h.text for h in hays]
        ref = alone[[h.needle for h in hays]]
        sims = {s: np.sum(_unit(model.embed(texts, strategy=s)) * ref, axis=1) for s in strategies}
        filler = _unit(model.embed(haystack.filler_only(model.tokenizer, grid, self.seed)))
        filler_rows = [{"length": n, "similarity_to_needles": round(float(np.mean(filler[i] @ alone.T)), 4)} for i, n in enumerate(grid)]

        cells = []
        for s in strategies:
            for n in grid:
                for d in self.depths:
                    sel = [i for i, h in enumerate(hays) if h.length == n and h.depth == d]
                    c = mean_with_ci(sims[s][sel], self.seed)
                    cells.append({"strategy": s, "length": n, "depth": d, "n": c["n"], "similarity": c["value"],
                                  "similarity_low": c["low"], "similarity_high": c["high"],
                                  "needle_seen": float(np.mean([haystack.needle_seen(hays[i], s, limit, model.engine) for i in sel]))})
        check = self._past_limit_check(model, needles, limit)
        trunc = truncation_rows(grid, {n: [h.tokens for h in hays if h.length == n] for n in grid}, limit)
        metrics = self._metrics(cells, check, hays, sims["truncate"], limit, grid)
        if not all(r["ids_identical"] and r["max_abs_diff"] == 0.0 for r in check):
            warnings.append("text past the truncation limit changed the output: the model reads beyond the limit the toolkit reports")
        value = {(r["length"], r["depth"]): r["similarity"] for r in cells if r["strategy"] == "truncate"}
        charts = (
            Chart("heatmap", "Cosine similarity to the sentence alone (silent truncation)", "depth", "length (tokens)",
                  {"rows": [str(n) for n in grid], "cols": [str(d) for d in self.depths],
                   "values": [[value[(n, d)] for d in self.depths] for n in grid]},
                  alt=f"Similarity by length and depth; the model truncates at {limit} tokens."),
            Chart("line", "Similarity against length, by strategy", "length (tokens)", "cosine similarity",
                  [{"series": s, "x": n, "y": float(np.mean([sims[s][i] for i, h in enumerate(hays) if h.length == n]))}
                   for s in strategies for n in grid],
                  alt="Similarity pooled over depths for each strategy."),
        )
        ok = all(r["ids_identical"] and r["max_abs_diff"] == 0.0 for r in check)
        headline = (f"The model embeds at most {limit} tokens ({model.info.provenance.split('; ')[-1]}); text past the limit "
                    f"{'leaves the output unchanged (similarity 1, difference 0)' if ok else 'CHANGES the output'}; "
                    f"similarity to the sentence alone falls from {cells[0]['similarity']:.2f} at {grid[0]} tokens to "
                    f"{float(np.mean([value[(grid[-1], d)] for d in self.depths])):.2f} at {grid[-1]}.")
        return ProbeResult(probe=self.name, suite=self.suite, title=self.title, headline=headline, metrics=tuple(metrics),
                           tables={"cells": cells, "past_limit_check": check, "truncation": trunc, "filler": filler_rows},
                           charts=charts, warnings=tuple(warnings))

    def _past_limit_check(self, model: SentenceEncoder, needles: list[str], limit: int) -> list[dict[str, Any]]:
        """Each needle in filler filling the limit, then more filler entirely past it: the same ids must be fed and
        the same vector come out."""
        near = haystack.build(model.engine, needles, list(range(limit, limit + 9)), [0.0], self.seed)
        base = [next(h for h in near if h.needle == i and h.tokens >= limit) for i in range(len(needles))]
        extra = haystack.filler_only(model.tokenizer, [limit], self.seed + 1)[0]
        longer = [h.text + " " + extra for h in base]
        a = model.embed([h.text for h in base])
        b = model.embed(longer)
        fed_a, fed_b = model.engine.encode([h.text for h in base]), model.engine.encode(longer)
        total = haystack.count_tokens(model.tokenizer, longer)
        return [{"needle": needles[i], "tokens": base[i].tokens, "tokens_with_extra": total[i],
                 "ids_identical": fed_a[i] == fed_b[i],
                 "similarity": _cosine(a[i], b[i]),
                 "max_abs_diff": float(np.max(np.abs(a[i] - b[i])))} for i in range(len(needles))]

    def _metrics(self, cells: list[dict[str, Any]], check: list[dict[str, Any]], hays: list[haystack.Haystack],
                 sims: np.ndarray, limit: int, grid: list[int]) -> list[Metric]:
        out = [
            Metric("truncation_limit", limit, unit="tokens", description="tokens the model embeds at most (special tokens included)"),
            Metric("past_limit_similarity", min(r["similarity"] for r in check), ideal=1.0, n=len(check),
                   description="lowest cosine between an input and the same input with filler appended past the limit"),
            Metric("past_limit_max_abs_diff", max(r["max_abs_diff"] for r in check), ideal=0.0, n=len(check),
                   description="largest absolute difference between those embeddings"),
        ]
        starts = {(h.needle, h.length): sims[i] for i, h in enumerate(hays) if h.depth == min(self.depths) and h.tokens <= limit}
        ends = {(h.needle, h.length): sims[i] for i, h in enumerate(hays) if h.depth == max(self.depths) and h.tokens <= limit}
        diff = [starts[k] - ends[k] for k in starts if k in ends]
        if diff and min(self.depths) != max(self.depths):
            c = mean_with_ci(diff, self.seed)
            out.append(Metric("start_minus_end_similarity", c["value"], (c["low"], c["high"]), ideal=0.0, n=c["n"],
                              p_value=paired_permutation_test(diff, seed=self.seed),
                              description="similarity with the sentence first minus last, inputs within the limit (sign-flip test)"))
        for r in cells:
            if r["strategy"] == "truncate":
                out.append(Metric("similarity", r["similarity"], (r["similarity_low"], r["similarity_high"]), higher_is_better=True,
                                  n=r["n"], group=f"L={r['length']} d={r['depth']}"))
        return out
