"""The probe framework: one base class, one verb, one result type.

``Probe.run(model) -> ProbeResult``. A probe never touches the torch model: it asks the adapter
(``audit.tasks.AuditedModel``) for batched primitives on lists of texts, so the engine can batch,
sort, cache and share forward passes across probes.
"""
from __future__ import annotations

import dataclasses
import inspect
import sys
import time
import typing
import warnings
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # pragma: no cover
    from typing_extensions import dataclass_transform

from audit.errors import AuditError, did_you_mean, unknown_name
from audit.gates import MetricSpec, Threshold, apply
from audit.results import Gate, Metric, ProbeResult

if TYPE_CHECKING:  # pragma: no cover
    from audit.tasks.base import AuditedModel

ENTRY_POINT_GROUP = "transformer_audit.probes"
SHRINK_FROM = 64
"""The case cap a probe without one gets on its first cut to fit a token budget."""


@dataclasses.dataclass(frozen=True)
class Param:
    """One declared probe parameter, as `audit list`, `audit init`, the config reader and the runner see it."""

    name: str
    type: Any
    """The annotation, resolved (``Any`` when it names something only imported for type checking)."""
    default: Any
    doc: str


def param(default: Any, doc: str) -> Any:
    """Declare a probe parameter as a class field: ``n_items: int = param(40, "items per language")``.

    Defaults must be immutable (None, numbers, strings, tuples): the same default serves every instance."""
    return dataclasses.field(default=default, metadata={"doc": doc})


@dataclass_transform(kw_only_default=True, field_specifiers=(param, dataclasses.field))  # type checkers: subclasses too
@dataclasses.dataclass(kw_only=True, eq=False)
class Probe:
    """Base class. Subclasses set the class attributes, declare their parameters as fields with
    :func:`param` (each subclass becomes a keyword-only dataclass) and implement ``_run``.

    Constructors only store parameters, so ``get_params`` prints the exact configuration; ``validate`` is
    the one place that checks them against a model, and :meth:`parameters` the one place that lists them.
    """

    name: ClassVar[str] = ""
    suite: ClassVar[str] = ""
    title: ClassVar[str] = ""
    requires: ClassVar[frozenset[str]] = frozenset()
    """Adapter capabilities needed, e.g. {"class_probs"}; the runner skips probes a model cannot serve."""
    requires_any: ClassVar[tuple[frozenset[str], ...]] = ()
    """Alternatives, at least one of which must be offered too (e.g. mask_fill or next_token)."""
    card: ClassVar[dict[str, Any]] = {}
    """What it measures, how to read it, sources, limits: composed into the report."""
    default_thresholds: ClassVar[tuple[Threshold, ...]] = ()
    metric_specs: ClassVar[tuple[MetricSpec, ...]] = ()
    """The metrics the probe reports, declared statically so that thresholds can be checked before any model
    loads (`audit validate`) and gap metrics know their sensitivity floor. Empty: not declared yet."""

    tokenizer_only: ClassVar[bool] = False
    """Whether the result depends on the tokenizer alone (then cached per tokenizer, shared by every model that uses it)."""
    cases_drive_cost: ClassVar[bool] = True
    """Whether ``max_cases`` caps the inputs (False where it only caps the cases worth explaining)."""

    seed: int = param(0, "seed of every sample and resampling the probe draws")
    max_cases: int | None = param(None, "cap on the cases run (a seeded sample); unset: all of them")
    thresholds: list[Threshold] | None = param(None, "gates on the metrics (the config's thresholds: section)")  # noqa: RUF009

    _legacy: ClassVar[bool] = False
    """Whether the probe (or a base) was written the old way, with its own ``__init__`` storing keyword arguments."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._legacy = cls._legacy or "__init__" in cls.__dict__
        if cls._legacy:
            warnings.warn(f"probe class {cls.__qualname__} defines __init__; declare its parameters as fields "
                          "with probes.base.param() instead (README, 'Adding a probe')", DeprecationWarning, stacklevel=2)
        else:
            dataclasses.dataclass(kw_only=True, eq=False)(cls)

    def __post_init__(self) -> None:
        # Sequences are stored as lists whichever kind was given, so a tuple default and a YAML list read the
        # same in ``params`` and in the budget's notes on what ``shrink`` cut.
        for pname in () if self._legacy else self.parameters():
            if isinstance(getattr(self, pname), tuple):
                setattr(self, pname, list(getattr(self, pname)))

    @classmethod
    def parameters(cls) -> dict[str, Param]:
        """The declared parameters by name, the probe's own first and the base's (seed, max_cases, thresholds) last."""
        if cls._legacy:
            return _legacy_parameters(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        out: dict[str, Param] = {}
        for c in cls.__mro__:
            for fname in inspect.get_annotations(c):
                f = fields.get(fname)
                if f is not None and fname not in out:
                    out[fname] = Param(fname, _resolve(f.type, c), f.default, f.metadata.get("doc", ""))
        return out

    @classmethod
    def check_parameters(cls, params: Mapping[str, Any]) -> None:
        """Raise AuditError naming the first parameter the probe does not declare, with the ones it does."""
        accepted = [n for n in cls.parameters() if n != "thresholds"]
        for pname in params:
            if pname not in accepted and pname != "thresholds":
                raise AuditError(f"probe {cls.name!r} has no parameter {pname!r}{did_you_mean(pname, accepted)}; "
                                 f"its parameters: {', '.join(accepted)}")

    @classmethod
    def check_thresholds(cls, thresholds: list[Threshold]) -> None:
        """Raise AuditError for a threshold on a metric the probe does not declare, or cannot gate — before
        any model runs (a probe that declares no metrics is checked after its run, by ``gates_for``)."""
        specs = {s.name: s for s in cls.metric_specs}
        gateable = [n for n, s in specs.items() if s.gateable]
        for t in thresholds if specs else ():
            if t.metric not in specs:
                raise AuditError(f"probe {cls.name!r} has no metric {t.metric!r}{did_you_mean(t.metric, specs)}; "
                                 f"its gateable metrics: {', '.join(gateable)}")
            if not specs[t.metric].gateable:
                raise AuditError(f"{t.metric} of {cls.name} has no good direction (it is context for the other "
                                 "metrics) and cannot be gated; gate another metric")

    def get_params(self) -> dict[str, Any]:
        """Parameters and their current values (JSON-friendly)."""
        params: dict[str, Any] = {}
        for pname in self.parameters():
            if not hasattr(self, pname):
                continue
            value = getattr(self, pname)
            if pname == "thresholds" and value is not None:
                value = [vars(t) for t in value]
            elif not isinstance(value, (str, int, float, bool, list, tuple, dict, type(None))):
                from audit.data_sources import describe  # data passed in memory (a DataFrame, a Dataset), a Path

                value = describe(value)
            params[pname] = value
        return params

    @classmethod
    def needs(cls) -> str:
        """What a model must offer, in words (for `audit list` and skip messages)."""
        parts = [", ".join(sorted(cls.requires))] if cls.requires else []
        if cls.requires_any:
            parts.append(" or ".join("+".join(sorted(r)) for r in cls.requires_any))
        return " and ".join(parts) or "any model"

    def supports(self, model: AuditedModel) -> bool:
        caps = model.capabilities
        return self.requires <= caps and (not self.requires_any or any(r <= caps for r in self.requires_any))

    def validate(self, model: AuditedModel) -> None:
        """Check parameters against the model; raise AuditError with a one-line fix."""
        if self.max_cases is not None and self.max_cases < 1:
            raise AuditError(f"{self.name}: max_cases must be at least 1, got {self.max_cases}")
        if not Probe.supports(self, model):
            raise AuditError(
                f"probe {self.name!r} needs a model that offers {self.needs()}; "
                f"{model.info.spec} is a {model.task} model — pick another probe or pass --task"
            )

    def run(self, model: AuditedModel) -> ProbeResult:
        """Run the probe, attach gates, card, parameters and timing."""
        self.validate(model)
        start = time.perf_counter()
        result = self._run(model)
        gates = self.gates_for(result.metrics, self.thresholds)
        return ProbeResult(
            **{
                **result.__dict__,
                "probe": self.name,
                "suite": self.suite,
                "title": result.title or self.title,
                "gates": result.gates + gates,
                "params": self.get_params(),
                "card": dict(self.card),
                "seconds": round(time.perf_counter() - start, 3),
            }
        )

    def _run(self, model: AuditedModel) -> ProbeResult:
        raise NotImplementedError

    @classmethod
    def gates_for(cls, metrics: tuple[Metric, ...], thresholds: list[Threshold] | None) -> tuple[Gate, ...]:
        """The gates of these metrics: the thresholds given, else the defaults of the metrics present (so a
        model that yields no such metric is not gated on it). Also what `audit gate` re-applies to saved results."""
        if thresholds is None:
            present = {m.name for m in metrics}
            thresholds = [t for t in cls.default_thresholds if t.metric in present]
        return apply(cls.name, metrics, list(thresholds), cls.metric_specs) if thresholds else ()

    def shrink(self) -> str | None:
        """Make the next run cheaper after it went over the token budget (``audit.budget``); say what was cut,
        or None when nothing is left to cut. The base halves ``max_cases`` (from ``SHRINK_FROM`` when unset):
        probes whose cost is not their case count override this and cut the parameters that drive it."""
        old = self.max_cases
        new = SHRINK_FROM if old is None else old // 2
        if new < 1 or not self.cases_drive_cost:
            return None
        self.max_cases = new
        return f"max_cases {old if old is not None else 'unset'} → {new}"


P = TypeVar("P", bound=type[Probe])
_REGISTRY: dict[str, type[Probe]] = {}
_LOADED = False


def register_probe(cls: P) -> P:
    """Class decorator adding a probe to the registry under ``cls.name``."""
    if not cls.name or not cls.suite:
        raise TypeError(f"{cls.__name__} needs class attributes 'name' and 'suite'")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise TypeError(f"probe name {cls.name!r} is already registered by {_REGISTRY[cls.name].__module__}")
    _REGISTRY[cls.name] = cls
    return cls


def _load_all() -> None:
    """Import the built-in suites and every installed entry point (once)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import importlib

    for module in ("probes.bias", "probes.multilingual", "probes.long_input", "probes.heads", "probes.smoke"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        loaded: Any = ep.load()
        if isinstance(loaded, type) and issubclass(loaded, Probe):
            register_probe(loaded)


def registry() -> dict[str, type[Probe]]:
    """All registered probes by name."""
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def suites() -> dict[str, list[str]]:
    """Probe names grouped by suite."""
    out: dict[str, list[str]] = {}
    for name, cls in registry().items():
        out.setdefault(cls.suite, []).append(name)
    return out


def get_probe(name: str) -> type[Probe]:
    reg = registry()
    if name not in reg:
        raise unknown_name("probe", name, reg)
    return reg[name]


def resolve(probe_names: list[str] | None = None, suite_names: list[str] | None = None) -> list[type[Probe]]:
    """Probe classes for the names and suites asked for (all probes when neither is given)."""
    reg, by_suite = registry(), suites()
    chosen: dict[str, type[Probe]] = {}
    for s in suite_names or []:
        if s not in by_suite:
            raise unknown_name("suite", s, by_suite)
        chosen.update({n: reg[n] for n in by_suite[s]})
    for n in probe_names or []:
        chosen[n] = get_probe(n)
    if not probe_names and not suite_names:
        chosen = dict(reg)
    return list(chosen.values())


ProbeFactory = Callable[..., Probe]


def _resolve(annotation: Any, owner: type) -> Any:
    """A field's annotation as a type, evaluated in its class's module (Any when it cannot be)."""
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, dict(vars(typing)), dict(vars(sys.modules[owner.__module__])))
    except Exception:  # noqa: BLE001 - a name imported only for type checking: the type check is lost, nothing else
        return Any


def _legacy_parameters(cls: type[Probe]) -> dict[str, Param]:
    """Parameters of a probe written the old way: the keyword-only arguments of the constructors over its
    bases, so third-party probes keep working unchanged (deprecated: see ``Probe.__init_subclass__``)."""
    base = Probe.parameters()
    params: dict[str, Param] = {}
    for c in cls.__mro__[: cls.__mro__.index(Probe)]:
        init = c.__dict__.get("__init__")
        if init is None:
            continue
        try:
            hints = typing.get_type_hints(init)
        except Exception:  # noqa: BLE001 - a hint we cannot evaluate only loses the type check
            hints = {}
        for pname, arg in inspect.signature(init).parameters.items():
            if arg.kind is arg.KEYWORD_ONLY and pname not in params:
                doc = base[pname].doc if pname in base else ""
                params[pname] = Param(pname, hints.get(pname, Any), arg.default, doc)
    for pname, declared in base.items():
        params.setdefault(pname, declared)
    return params
