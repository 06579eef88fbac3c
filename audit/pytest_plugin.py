"""pytest plugin: gate a model from a test suite, with the same gates as ``audit run``.

Registered through the ``pytest11`` entry point ``transformer_audit``. It adds the options
``--audit-model SPEC`` (or ini ``audit_model``; default: the packaged model), ``--audit-task``,
``--audit-device`` and ``--audit-max-cases``, and the session fixtures ``audited_model`` (the loaded
model) and ``audit_run`` (``audit_run(probe_name, **params) -> AuditResult``, cached per session)::

    from audit.pytest_plugin import assert_gate, parametrize_probes

    @parametrize_probes(["robustness.perturbation"])
    def test_robust(audit_run, probe_name):
        assert_gate(audit_run(probe_name), probe_name, "flip_rate", max=0.35)

A model already in memory (a ``Pipeline``, a ``PreTrainedModel`` with its tokenizer, a ``SentenceTransformer``)
is audited by overriding the fixture in your ``conftest.py``::

    @pytest.fixture(scope="session")
    def audited_model():
        return audit.load(my_model, tokenizer=my_tokenizer)

A failing gate fails the test with a message that reads like a finding; an inconclusive gate (the interval
straddles the bound, or too few cases) fails too, with how many cases would decide it — or, with
``allow_inconclusive=True``, passes with an ``InconclusiveGateWarning``. The verdicts are those of ``audit run``.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from audit.errors import AuditError, unknown_name
from audit.gates import DEFAULT_MODE, Threshold, apply
from audit.ranges import positive_arg
from audit.results import AuditResult, Gate, ProbeResult
from audit.stats import MIN_CASES

__all__ = ["InconclusiveGateWarning", "assert_gate", "parametrize_probes"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("transformer-audit", "audit a transformer model in tests")
    group.addoption("--audit-model", default=None, help="model spec for the audited_model fixture: 'default', a folder or a hub id")
    group.addoption("--audit-task", default=None, help="task head of the audited model, when detection is not what you want")
    group.addoption("--audit-device", default="auto", help="device for the audited model (default auto)")
    group.addoption("--audit-max-cases", type=positive_arg, default=None, help="cap the cases per probe in audit_run (faster, less certain)")
    parser.addini("audit_model", "model spec for the audited_model fixture (overridden by --audit-model)", default="default")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "audit_probe(name): a test that gates one transformer-audit probe")


def pytest_report_header(config: pytest.Config) -> str:
    return f"transformer-audit: audited model {_model_spec(config)}"


def _model_spec(config: pytest.Config) -> str:
    return config.getoption("--audit-model") or config.getini("audit_model") or "default"


@pytest.fixture(scope="session")
def audited_model(pytestconfig: pytest.Config) -> Any:
    """The model under audit (an ``audit.tasks.AuditedModel``), loaded once per session."""
    from audit.loading import load

    return load(_model_spec(pytestconfig), task=pytestconfig.getoption("--audit-task"),
                device=pytestconfig.getoption("--audit-device"), progress=False)


@pytest.fixture(scope="session")
def audit_run(audited_model: Any, pytestconfig: pytest.Config) -> Callable[..., AuditResult]:
    """``audit_run(probe_name, **params)``: run one probe on the audited model (no explanations) and
    return the AuditResult; repeated calls with the same arguments reuse the first run. A probe the
    model cannot serve skips the test with the reason."""
    from audit.run_spec import RunSpec
    from audit.runner import run as run_spec
    from probes.base import get_probe

    done: dict[str, AuditResult] = {}
    max_cases = pytestconfig.getoption("--audit-max-cases")

    def run(probe_name: str, **params: Any) -> AuditResult:
        key = probe_name + repr(sorted(params.items()))
        if key not in done:
            cls = get_probe(probe_name)
            try:
                supported = cls(**params).supports(audited_model)
            except TypeError:  # an unknown parameter: the runner names it
                supported = True
            if not supported:
                pytest.skip(f"{probe_name} needs {', '.join(sorted(cls.requires)) or 'another head'}, "
                            f"which a {audited_model.task} model does not offer")
            spec = RunSpec.create(model=audited_model, probes=[probe_name], max_cases=max_cases, explain=False,
                                  probe_params={probe_name: params} if params else None)
            done[key] = run_spec(spec, progress=False)
        return done[key]

    return run


def parametrize_probes(probes: Sequence[str] | None = None, suites: Sequence[str] | None = None) -> pytest.MarkDecorator:
    """Parametrise a test over probes (named, or every probe of the suites; every probe when neither
    is given) as the argument ``probe_name`` — the shape of scikit-learn's ``parametrize_with_checks``."""
    from probes.base import resolve

    names = [cls.name for cls in resolve(list(probes or []), list(suites or []))]
    return pytest.mark.parametrize("probe_name", [pytest.param(n, marks=pytest.mark.audit_probe(n)) for n in names], ids=names)


def assert_gate(
    result: AuditResult | ProbeResult,
    probe: str,
    metric: str,
    *,
    max: float | None = None,  # the same words as the config's thresholds
    min: float | None = None,
    value: float | None = None,
    mode: str = DEFAULT_MODE,
    group: str | None = None,
    min_n: int = MIN_CASES,
    allow_inconclusive: bool = False,
) -> tuple[Gate, ...]:
    """Gate ``metric`` of ``probe`` (every group, or ``group``) as ``audit run`` would and fail the test
    with a finding when it does not pass. Give one of ``max`` (a ceiling: lower is better, or the distance
    from an ideal), ``min`` (a floor: higher is better) or ``value`` (the metric's own direction)."""
    __tracebackhide__ = True
    bounds = {k: v for k, v in (("max", max), ("min", min), ("value", value)) if v is not None}
    if len(bounds) != 1:
        raise AuditError(f"assert_gate needs exactly one of max=, min= or value=; got {', '.join(bounds) or 'none'}")
    (bound, threshold_value), = bounds.items()
    probe_result, model = _probe_result(result, probe)
    if probe_result.status == "skipped":
        pytest.skip(f"{probe}: {probe_result.headline}")
    if probe_result.status == "error":
        raise AssertionError(f"Finding: {probe} could not run on {model}: {probe_result.headline}")
    matched = [m for m in probe_result.metrics if m.name == metric and (group is None or m.group == group)]
    if not matched:
        names = {m.name for m in probe_result.metrics}
        if metric in names:
            raise unknown_name(f"group of {probe}'s {metric}", str(group), {m.group for m in probe_result.metrics if m.name == metric})
        raise unknown_name(f"metric of {probe}", metric, names)
    from audit.config import bound_problem

    for m in matched:
        problem = bound_problem(m, bound, float(threshold_value))
        if problem:
            raise AuditError(f"assert_gate: {problem}")
    threshold = Threshold(metric, float(threshold_value), mode, group, min_n)  # type: ignore[arg-type]
    specs = _specs(probe)
    gates = apply(probe, probe_result.metrics, [threshold], specs)
    failed = [g for g in gates if g.status == "fail"]
    unsure = [g for g in gates if g.status == "inconclusive"]
    if failed or (unsure and not allow_inconclusive):
        raise AssertionError(_finding(probe, model, probe_result, gates, failed, unsure))
    if unsure:
        warnings.warn(InconclusiveGateWarning(f"{probe}: inconclusive (allowed) — " + "; ".join(g.reason for g in unsure)), stacklevel=2)
    return gates


class InconclusiveGateWarning(UserWarning):
    """An inconclusive gate that ``allow_inconclusive=True`` let through."""


def _specs(probe: str) -> tuple[Any, ...]:
    """The probe's declared metrics (sensitivity floors included), when it is a registered probe."""
    from probes.base import registry

    cls = registry().get(probe)
    return cls.metric_specs if cls is not None else ()


def _probe_result(result: AuditResult | ProbeResult, probe: str) -> tuple[ProbeResult, str]:
    if isinstance(result, ProbeResult):
        if result.probe != probe:
            raise AuditError(f"assert_gate got the result of {result.probe!r}, not of {probe!r}")
        return result, "the audited model"
    try:
        return result.probe(probe), f"model {result.model.spec}"
    except KeyError:
        raise unknown_name("probe in this result", probe, [p.probe for p in result.probes]) from None


def _finding(probe: str, model: str, result: ProbeResult, gates: tuple[Gate, ...], failed: list[Gate], unsure: list[Gate]) -> str:
    parts = []
    if failed:
        parts.append(f"{len(failed)} failed")
    if unsure:
        parts.append(f"{len(unsure)} inconclusive (the evidence decides neither way, which is not a pass)")
    lines = [f"Finding: {probe} on {model} — {' and '.join(parts)} of {len(gates)} gate(s) on {gates[0].metric.split('[')[0]}."]
    lines += [f"  {g.status.upper()}: {g.reason}" for g in failed + unsure]
    if result.headline:
        lines.append(f"  What the probe found: {result.headline}")
    return "\n".join(lines)
