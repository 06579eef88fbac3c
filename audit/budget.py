"""The cost budget: how many tokens one probe may push through the model, and how a probe is fitted under it.

The engine counts every token it computes (cache hits are free) and refuses a ``map`` call *before* running
it when the call would take the probe past its budget (``BudgetExceeded``). The runner then asks the probe to
``shrink()`` (fewer cases, shorter or fewer lengths, ...) and runs it again; what the earlier attempts computed
stays in the output cache and still counts against the budget, so the tokens a probe processes never exceed
it. A probe that cannot shrink under the budget is reported as not run, with the tokens it would need.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from audit.errors import AuditError, BudgetExceeded

if TYPE_CHECKING:  # pragma: no cover
    from audit.results import ProbeResult
    from audit.tasks.base import AuditedModel
    from probes.base import Probe

NOT_RUN = "Not run:"
TOKENS_PER_CASE = 2048
"""``--max-cases N`` alone caps each probe at N × 2,048 tokens through the model: a case is a small group of
inputs (a sentence pair scored token by token, a pair of inputs at a 1,024-token limit)."""


def token_budget(max_tokens: int | None, max_cases: int | None) -> int | None:
    """The per-probe token budget in force: ``max_tokens`` when given, else ``max_cases`` × TOKENS_PER_CASE."""
    if max_tokens is not None:
        if max_tokens < 1:
            raise AuditError(f"--max-tokens must be a positive number of tokens, got {max_tokens}")
        return int(max_tokens)
    return None if max_cases is None else int(max_cases) * TOKENS_PER_CASE


def run_within(probe: Probe, model: AuditedModel, budget: int | None, max_attempts: int = 12) -> ProbeResult:
    """``probe.run(model)`` with at most ``budget`` tokens through the model, shrinking the probe until it fits.

    The result says what was cut (a warning, and the shrunk parameters in ``params``) and the tokens spent."""
    from audit.results import ProbeResult

    if budget is None:
        return probe.run(model)
    engine = model.engine
    start = time.perf_counter()
    cuts: list[str] = []
    last: BudgetExceeded | None = None
    with engine.limited(budget):
        for _ in range(max_attempts):
            try:
                result = probe.run(model)
            except BudgetExceeded as exc:
                last = exc
                cut = probe.shrink()
                if cut is None:
                    break
                cuts.append(cut)
                continue
            except AuditError as exc:
                if not cuts:
                    raise
                return _not_run(probe, start, f"{NOT_RUN} cut to fit the budget of {budget:,} tokens ({'; '.join(cuts)}), "
                                f"its parameters no longer hold: {exc}; raise --max-tokens (or --max-cases).", engine.spent)
            spent = engine.spent
            note = (f"cut to fit the budget of {budget:,} tokens through the model: {'; '.join(cuts)}"
                    f" ({spent:,} tokens spent, earlier attempts included)") if cuts else None
            return ProbeResult(**{**result.__dict__, "warnings": result.warnings + ((note,) if note else ()),
                                  "seconds": round(time.perf_counter() - start, 3)})
        spent = engine.spent
    assert last is not None
    return _not_run(probe, start, f"{NOT_RUN} even cut down ({'; '.join(cuts) or 'nothing left to cut'}) it needs at least "
                    f"{last.spent + last.needed:,} tokens through the model, over the budget of {budget:,} per probe; "
                    "raise --max-tokens (or --max-cases).", spent)


def over_budget(result: ProbeResult) -> bool:
    """Whether a skipped probe was skipped for the token budget (not because it does not apply)."""
    return result.status == "skipped" and result.headline.startswith(NOT_RUN)


def _not_run(probe: Probe, start: float, headline: str, spent: int) -> ProbeResult:
    from audit.results import ProbeResult

    return ProbeResult(probe=probe.name, suite=probe.suite, title=probe.title, status="skipped", headline=headline,
                       warnings=(f"{spent:,} tokens spent before stopping",), params=probe.get_params(),
                       card=dict(probe.card), seconds=round(time.perf_counter() - start, 3))
