"""The conformance kit: does a probe keep the contract it declares? (In the spirit of scikit-learn's
``check_estimator``.) ``check_probe(MyProbe)`` runs the probe on the tiny model of every head it supports and
checks what the toolkit relies on before and after a run:

- the card says what the probe measures, how to read it, its sources and its limits;
- every parameter is declared with a one-line doc, and the parameters a run records (``params`` in
  results.json) round-trip through an audit config into a probe that the model accepts;
- the metrics are declared (``metric_specs``), each run produces only declared metrics with the declared
  direction and grouping, every declared metric is produced on some head, and the default gates name
  gateable declared metrics;
- the run's results validate against ``audit/results.schema.json``;
- the probe stays within a token budget, counted at the boundary into the model's forward function
  (independently of the engine's own bookkeeping), by shrinking itself when it would go over.

Third-party probe authors run the same kit in their own tests (see the README, "Adding a probe").
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # pragma: no cover
    from audit.models import AuditedModel
    from probes.base import Probe

__all__ = ["BUDGET", "CARD_KEYS", "TINY_KINDS", "ConformanceError", "check_probe", "tiny_models"]

TINY_KINDS = ("bert-classifier", "bert-ner", "bert-mlm", "gpt2", "sentence-transformer", "bert-encoder", "bert-qa", "bart")
"""One tiny model per head (``audit.testing`` and ``probes.heads.tiny`` build them)."""
BUDGET = 25_000
"""Tokens a probe may push through a tiny model (cut down by ``shrink`` when its defaults need more)."""
CARD_KEYS = ("what", "how_to_read", "sources", "limits")


class ConformanceError(AssertionError):
    """A probe breaks its contract; the message lists every broken rule, one per line."""


def tiny_models(root: str | Path | None = None) -> Callable[[str], AuditedModel]:
    """``get(kind)`` -> a loaded tiny model of that head, built on first use under ``root`` (a temporary
    folder when None) and shared by every later call, so checking many probes builds each model once."""
    from audit import testing
    from audit.loading import load
    from probes.heads import tiny

    folder = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="audit-conformance-"))
    loaded: dict[str, AuditedModel] = {}

    def get(kind: str) -> AuditedModel:
        if kind not in loaded:
            if kind in tiny.KINDS:  # bart: room for the summarization documents
                path = tiny.build(kind, folder / kind, max_length=256 if kind == "bart" else 64)
            else:
                path = testing.build(kind, folder / kind)
            loaded[kind] = load(str(path), progress=False, use_cache=False)
        return loaded[kind]

    return get


def check_probe(probe_cls: type[Probe], *, models: Callable[[str], AuditedModel] | None = None,
                kinds: tuple[str, ...] = TINY_KINDS, params: Sequence[Mapping[str, Any]] = ({},),
                budget: int = BUDGET) -> dict[str, str]:
    """Check ``probe_cls`` (registered, or registered here) on the tiny model of each head it supports.

    ``models`` shares loaded models across calls (see :func:`tiny_models`). Each mapping in ``params`` is one
    run per head (more than one where the defaults leave some declared metric unproduced: per-language
    metrics only with ``languages`` named, say). Returns {"kind" or "kind with params": what happened} and
    raises :class:`ConformanceError` listing every broken rule."""
    from probes.base import register_probe

    register_probe(probe_cls)
    get = models or tiny_models()
    problems = _static_problems(probe_cls)
    outcomes: dict[str, str] = {}
    produced: set[str] = set()
    for kind in kinds:
        model = get(kind)
        for given in params:
            where = kind + (f" with {dict(given)}" if given else "")
            probe = probe_cls(**given)
            if not probe.supports(model):
                continue
            try:
                probe.validate(model)
            except Exception as exc:  # noqa: BLE001 - an AuditError: the probe needs parameters this head cannot serve
                outcomes[where] = f"not applicable: {exc}"
                continue
            names, run_problems = _run_problems(probe_cls, model, dict(given), budget)
            produced |= names
            problems += [f"on {where}: {p}" for p in run_problems]
            outcomes[where] = "ok" if not run_problems else "broken"
    ran = [k for k, v in outcomes.items() if v in ("ok", "broken")]
    if not ran:
        problems.append(f"ran on none of the tiny models ({', '.join(kinds)}): {outcomes or 'no head is supported'}")
    else:
        unproduced = sorted({s.name for s in probe_cls.metric_specs} - produced)
        if unproduced:
            problems.append(f"declared metrics never produced on {', '.join(ran)}: {', '.join(unproduced)} "
                            "(declare only what the probe reports, or pass params that exercise them)")
    if problems:
        raise ConformanceError(f"{probe_cls.name}:\n  " + "\n  ".join(problems))
    return outcomes


def _static_problems(cls: type[Probe]) -> list[str]:
    """What can be checked without a model: card, parameter declarations, metric declarations, default gates."""
    problems = [f"class attribute {a!r} is empty" for a in ("name", "suite", "title") if not getattr(cls, a)]
    for key in CARD_KEYS:
        if not cls.card.get(key):
            problems.append(f"card has no {key!r}")
    for p in cls.parameters().values():
        if not p.doc:
            problems.append(f"parameter {p.name!r} has no doc: declare it with param(default, \"what it does\")")
        if not _plain(p.default):
            problems.append(f"parameter {p.name!r} has a default that an audit config cannot write: {p.default!r}")
    specs = {s.name: s for s in cls.metric_specs}
    if not specs:
        problems.append("declares no metrics (metric_specs)")
    if len(specs) != len(cls.metric_specs):
        problems.append("metric_specs names a metric twice")
    for t in cls.default_thresholds:
        if t.metric not in specs or not specs[t.metric].gateable:
            problems.append(f"default threshold on {t.metric!r}, which is not a declared gateable metric")
    return problems


def _run_problems(cls: type[Probe], model: AuditedModel, params: dict[str, Any], budget: int) -> tuple[set[str], list[str]]:
    """Run the probe through ``run_audit`` under the budget and check the result; (metric names, problems)."""
    from audit.cache import OutputCache
    from audit.engine import EngineStats
    from audit.results import schema_problem
    from audit.runner import run_audit

    engine = model.engine
    engine.cache = OutputCache(None)  # nothing is free
    engine.stats = EngineStats()
    seen = [0]
    inner, own = engine._forward, vars(engine).get("_forward")

    def counting(forward: Any, seqs: Any, extras: Any) -> Any:
        seen[0] += sum(len(s) for s in seqs)
        return inner(forward, seqs, extras)

    engine._forward = counting  # type: ignore[method-assign]
    try:
        result = run_audit(model, probes=[cls.name], probe_params={cls.name: params} if params else None,
                           max_tokens=budget, explain=False, progress=False)
    except Exception as exc:  # noqa: BLE001 - a probe that validated must run or say why in its result
        return set(), [f"the run raised {type(exc).__name__}: {exc}"]
    finally:
        if own is None:
            del engine._forward  # back to the class's method
        else:
            engine._forward = own  # type: ignore[method-assign]
    problems: list[str] = []
    tokens = result.throughput["tokens"]
    if tokens != seen[0]:
        problems.append(f"the engine counted {tokens:,} tokens but {seen[0]:,} reached the forward function")
    if seen[0] > budget:
        problems.append(f"{seen[0]:,} tokens went through the model, over the budget of {budget:,}")
    (p,) = [r for r in result.probes if r.probe == cls.name]
    if p.status != "ok":
        problems.append(f"status {p.status}: {p.headline}")
    problem = schema_problem(json.loads(result.to_json()))
    if problem:
        problems.append(f"results break audit/results.schema.json: {problem}")
    specs = {s.name: s for s in cls.metric_specs}
    for m in p.metrics:
        spec = specs.get(m.name)
        if spec is None:
            problems.append(f"metric {m.name!r} is not declared in metric_specs")
        elif (m.higher_is_better, m.ideal) != (spec.higher_is_better, spec.ideal):
            problems.append(f"metric {m.name!r} reports higher_is_better={m.higher_is_better}, ideal={m.ideal} but declares "
                            f"higher_is_better={spec.higher_is_better}, ideal={spec.ideal}")
        elif not spec.groups and m.group:
            problems.append(f"metric {m.name!r} is declared ungrouped but reports group {m.group!r}")
    problems += _round_trip_problems(cls, model, p.params)
    return {m.name for m in p.metrics}, problems


def _round_trip_problems(cls: type[Probe], model: AuditedModel, recorded: dict[str, Any]) -> list[str]:
    """The parameters a run records, written into an audit config and read back, build a probe with the same
    parameters that the model accepts (so results.json says how to reproduce the run)."""
    from audit.config import load_config

    settable = {k: v for k, v in recorded.items() if k != "thresholds"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.yaml"
        path.write_text(yaml.safe_dump({"model": "default", "probes": {cls.name: settable}}), encoding="utf-8")
        try:
            read = load_config(path).probes[cls.name]
            rebuilt = cls(**read)
            rebuilt.validate(model)
        except Exception as exc:  # noqa: BLE001 - any failure is the finding
            return [f"recorded params do not round-trip through a config: {exc}"]
    again = {k: v for k, v in rebuilt.get_params().items() if k != "thresholds"}
    if json.dumps(again, sort_keys=True, default=str) != json.dumps(settable, sort_keys=True, default=str):
        return [f"recorded params {settable} read back from a config as {again}"]
    return []


def _plain(value: Any) -> bool:
    """Whether a config (YAML) can write the value."""
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return value is None or isinstance(value, (str, int, float, bool))
