"""Language models over long inputs: loss by token position on long natural text, and passkey retrieval.

Passkey: a number is planted at a depth of neutral filler and the text ends by restating it; the right key
must get a higher log-likelihood than distractor keys (Mohtashami & Jaggi 2023, scored by likelihood
instead of generation). Works for causal LMs (log P(t_i | t_<i)) and masked LMs (pseudo-log-likelihood).
"""
from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from audit.errors import AuditError
from audit.gates import MetricSpec
from audit.results import Chart, Metric, ProbeResult
from audit.stats import MIN_CASES
from probes.base import param, register_probe
from probes.long_input import haystack
from probes.long_input.grid_probe import GridProbe
from probes.long_input.measures import effective_length, mean_with_ci, proportion, truncation_rows
from probes.long_input.texts import PASSKEY_PLANT, PASSKEY_QUERY

if TYPE_CHECKING:  # pragma: no cover
    from audit.tasks.base import AuditedModel
    from audit.tasks.causal_lm import CausalLM
    from audit.tasks.masked_lm import MaskedLM


@register_probe
class LanguageModelProbe(GridProbe):
    name = "long_input.lm"
    metric_specs = (
        MetricSpec("passkey_effective_length", higher_is_better=True), MetricSpec("truncation_limit"),
        MetricSpec("passkey_chance"), MetricSpec("passkey_accuracy_within_limit", higher_is_better=True),
        MetricSpec("passkey_accuracy_past_limit", higher_is_better=True), MetricSpec("loss_first_bin"),
        MetricSpec("loss_last_bin", higher_is_better=False),
        MetricSpec("passkey_accuracy", higher_is_better=True, groups="L=length d=depth"),
    )
    cases_drive_cost = False
    suite = "long-input"
    title = "Language models: loss by position and passkey retrieval"
    requires = frozenset({"token_scores"})
    card = {
        "what": "How a language model's per-token loss changes with the token's position in long natural text, and "
                "whether it retrieves a passkey planted at depths 0–100% of filler, at lengths up to twice its limit: the "
                "text restating the right key must be more likely than the same text with a distractor key.",
        "how_to_read": "Loss (negative log-likelihood per token, nats) should fall or stay flat with position for a "
                       "causal LM that uses its context. Passkey accuracy is the share of keys whose right version "
                       "scores highest (ties share the credit, so a key the model cannot see scores chance, 1/k). "
                       "Past the limit the restated key is truncated away and accuracy falls to chance.",
        "sources": [
            "Mohtashami & Jaggi 2023, Landmark Attention (passkey retrieval)",
            "Salazar et al. 2020, Masked Language Model Scoring (pseudo-log-likelihood)",
            "Liu et al. 2023, Lost in the Middle",
        ],
        "limits": [
            "A masked LM's pseudo-log-likelihood costs one forward pass per token: on real masked LMs with a 512-token "
            "limit pass fewer lengths or depths.",
            "Loss by position is measured within the limit; the truncation table says how much of each text was scored.",
            "The default gives 3 trials per cell (one key set of 3, each planted in turn): per-cell intervals are wide; "
            "raise n_key_sets, or read the pooled accuracy.",
        ],
    }

    n_key_sets: int = param(1, "sets of passkeys drawn (more: tighter accuracy per cell)")
    n_distractors: int = param(2, "wrong keys scored beside the right one (chance is 1 / (n + 1))")
    n_texts: int = param(2, "filler texts per cell")
    position_bins: int = param(8, "bins of the per-position loss curve")
    retrieval_level: float = param(0.9, "passkey accuracy that counts as retrieved (effective length)")

    def shrink(self) -> str | None:
        """Fewer long natural texts and distractor keys first (a masked LM's pseudo-log-likelihood costs a forward
        pass per token), then the grid's cuts."""
        if self.n_texts > 1:
            old, self.n_texts = self.n_texts, 1
            return f"n_texts {old} → 1"
        if self.n_distractors > 1:
            old, self.n_distractors = self.n_distractors, 1
            return f"n_distractors {old} → 1 (chance is now 0.5)"
        return super().shrink()

    def validate(self, model: AuditedModel) -> None:
        super().validate(model)
        self._plan(model)

    def _plan(self, model: AuditedModel) -> tuple[int, list[int], list[str], list[tuple[list[str], int]], int, list[str]]:
        """Limit, grid, plants, candidate keys per plant with the right one's index, query size, warnings.

        Balanced design: every key of a set is planted in turn against the others, so a model that ignores the
        context (always preferring the same digits) scores exactly chance."""
        for pname in ("n_key_sets", "n_distractors", "n_texts", "position_bins"):
            if int(getattr(self, pname)) < 1:
                raise AuditError(f"{self.name}: {pname} must be at least 1, got {getattr(self, pname)}")
        rng = random.Random(self.seed)
        sets = [[str(k) for k in rng.sample(range(10000, 100000), self.n_distractors + 1)] for _ in range(self.n_key_sets)]
        keys = [(ks, j) for ks in sets for j in range(len(ks))]
        plants = [PASSKEY_PLANT.format(key=ks[j]) for ks, j in keys]
        query = max(haystack.count_tokens(model.tokenizer, [PASSKEY_QUERY.format(key=k) for ks in sets for k in ks]))
        query -= haystack.frame_size(model.tokenizer)
        limit, grid, warnings = self.grid(model, max(haystack.check_needles(model.tokenizer, plants, None, self.name)) + query)
        haystack.check_needles(model.tokenizer, plants, grid[0] - query, self.name)
        return limit, grid, plants, keys, query, warnings

    def _run(self, model: AuditedModel) -> ProbeResult:
        model = cast("CausalLM | MaskedLM", model)  # requires: the runner hands this probe only models that offer it
        limit, grid, plants, keys, query, warnings = self._plan(model)
        hays = haystack.build(model.engine, plants, [n - query for n in grid], self.depths, self.seed)
        texts = [h.text + " " + PASSKEY_QUERY.format(key=k) for h in hays for k in keys[h.needle][0]]
        natural = [haystack.filler_only(model.tokenizer, [min(2 * limit, self.max_tokens)], self.seed + i)[0]
                   for i in range(self.n_texts)]
        scores = model.token_scores(texts + natural)  # one call: the engine batches and shares repeated rows
        loss_rows, loss_bins, scored = self._loss_by_position(scores[len(texts):])
        totals = np.array([s.total for s in scores[: len(texts)]]).reshape(len(hays), -1)
        fed = np.array(haystack.count_tokens(model.tokenizer, texts)).reshape(len(hays), -1)
        best = totals.max(axis=1, keepdims=True)
        ties = (totals == best).sum(axis=1)
        right = np.array([keys[h.needle][1] for h in hays])
        credit = np.where(totals[np.arange(len(hays)), right] == best[:, 0], 1.0 / ties, 0.0)
        nominal = {n - query: n for n in grid}

        cells = []
        for n in grid:
            for d in self.depths:
                sel = [i for i, h in enumerate(hays) if nominal[h.length] == n and h.depth == d]
                a = proportion(credit[sel])
                cells.append({"length": n, "depth": d, "n": a["n"], "accuracy": a["value"], "accuracy_low": a["low"],
                              "accuracy_high": a["high"], "tokens": round(float(fed[sel].mean()), 1),
                              "query_seen": float(np.mean(fed[sel, 0] <= limit)),
                              "key_seen": float(np.mean([hays[i].needle_end <= limit for i in sel]))})
        chance = 1.0 / (self.n_distractors + 1)
        eff = effective_length({(r["length"], r["depth"]): r["accuracy"] for r in cells}, grid, self.retrieval_level)
        trunc = truncation_rows(grid, {n: list(fed[[i for i, h in enumerate(hays) if nominal[h.length] == n], 0]) for n in grid}, limit)
        within = [i for i in range(len(hays)) if fed[i, 0] <= limit]
        past = [i for i in range(len(hays)) if fed[i, 0] > limit]
        metrics = [
            Metric("passkey_effective_length", eff, higher_is_better=True, n=len(keys), unit="tokens",
                   description=f"longest length up to which passkey accuracy stays >= {self.retrieval_level:.0%} at every depth"),
            Metric("truncation_limit", limit, unit="tokens", description="tokens the model is fed at most"),
            Metric("passkey_chance", chance, unit="share", description="accuracy of a model that cannot see the key"),
        ]
        for label, sel in (("within_limit", within), ("past_limit", past)):
            if sel:
                a = proportion(credit[sel])
                metrics.append(Metric(f"passkey_accuracy_{label}", a["value"], (a["low"], a["high"]), higher_is_better=True,
                                      n=a["n"], unit="share", description=f"passkey accuracy pooled over inputs {label.replace('_', ' ')}"))
        first, last = loss_bins[0], loss_bins[-1]
        c = mean_with_ci(last, self.seed + 1)
        d0 = mean_with_ci(first, self.seed)
        metrics += [
            Metric("loss_first_bin", d0["value"], (d0["low"], d0["high"]), n=d0["n"], unit="nats",
                   description="mean loss of the tokens in the first position bin"),
            Metric("loss_last_bin", c["value"], (c["low"], c["high"]), higher_is_better=False, n=c["n"], unit="nats",
                   description="mean loss of the tokens in the last position bin (most context)"),
        ]
        metrics += [Metric("passkey_accuracy", r["accuracy"], (r["accuracy_low"], r["accuracy_high"]), higher_is_better=True,
                           n=r["n"], unit="share", group=f"L={r['length']} d={r['depth']}") for r in cells]
        if len(keys) < MIN_CASES:
            warnings.append(f"{len(keys)} keys per cell (fewer than {MIN_CASES}): per-cell intervals are wide; read the pooled accuracy")
        value = {(r["length"], r["depth"]): r["accuracy"] for r in cells}
        charts = (
            Chart("heatmap", "Passkey accuracy by length and depth", "depth", "length (tokens)",
                  {"rows": [str(n) for n in grid], "cols": [str(d) for d in self.depths],
                   "values": [[value[(n, d)] for d in self.depths] for n in grid]},
                  alt=f"Passkey accuracy; chance is {chance:.2f}; the model truncates at {limit} tokens."),
            Chart("line", "Loss by token position", "token position", "loss (nats)",
                  [{"series": "loss", "x": r["position"], "y": r["loss"]} for r in loss_rows],
                  alt="Mean negative log-likelihood per position bin."),
        )
        headline = (f"Passkey accuracy {proportion(credit[within])['value'] if within else float('nan'):.2f} within the "
                    f"{limit}-token limit and {proportion(credit[past])['value'] if past else float('nan'):.2f} past it "
                    f"(chance {chance:.2f}); loss {d0['value']:.2f} nats at the first positions, {c['value']:.2f} at the last "
                    f"({scored} tokens scored per text).")
        return ProbeResult(probe=self.name, suite=self.suite, title=self.title, headline=headline, metrics=tuple(metrics),
                           tables={"passkey": cells, "loss_by_position": loss_rows, "truncation": trunc},
                           charts=charts, warnings=tuple(warnings))

    def _loss_by_position(self, scores: list[Any]) -> tuple[list[dict[str, Any]], list[list[float]], int]:
        """Per-token loss on the long natural texts (twice the limit, truncated by the model), in position bins."""
        n = min(len(s.logprobs) for s in scores)
        edges = np.linspace(0, n, min(self.position_bins, n) + 1).astype(int)
        rows, bins = [], []
        for lo, hi in itertools.pairwise(edges):
            losses = [float(-v) for s in scores for v in s.logprobs[lo:hi]]
            c = mean_with_ci(losses, self.seed)
            bins.append(losses)
            rows.append({"position": int((lo + hi) // 2), "from": int(lo), "to": int(hi), "loss": c["value"],
                         "loss_low": c["low"], "loss_high": c["high"], "n": c["n"]})
        return rows, bins, n
