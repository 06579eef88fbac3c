"""One run specification: every option of an audit run, however it was given.

A YAML config (``RunSpec.from_config``), the command line (``audit run``) and Python
(``audit.run(model, **options)`` or ``RunSpec(...)``) all build a :class:`RunSpec`; the runner takes only
that (``audit.runner.run(spec)``), so an option means the same thing on every path, and the baseline gating
that ``--baseline`` asks for happens in the runner, for Python callers too.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
)

from audit.config import (
    DEFAULT_MAX_EXPLANATIONS,
    AuditConfig,
    BaselineSettings,
    problem_of,
)
from audit.errors import AuditError, did_you_mean
from audit.gates import Threshold
from audit.ranges import COUNT_MAX, SEED_MAX

if TYPE_CHECKING:  # pragma: no cover
    from audit.results import AuditResult

__all__ = ["BaselineSettings", "RunSpec"]

Flag = Annotated[bool, Strict()]
"""A switch: True or False, not 1 or "yes"."""
Count = Annotated[int, Strict(), Field(ge=1, le=COUNT_MAX)]
"""Cases, tokens, rows: at least one, at most a 32-bit index (audit.ranges, as on the command line)."""


def _names(value: Any) -> Any:
    """One name is a list of one (``suites="bias"``), not a list of letters."""
    return (value,) if isinstance(value, str) else value


def _baseline(value: Any) -> Any:
    """A path alone is a baseline with the default tolerance."""
    return {"path": value} if isinstance(value, (str, Path)) else value


class RunSpec(BaseModel):
    """What to audit and how. Immutable; :meth:`replace` gives a validated copy with some options changed."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    model: Any = "default"
    """A spec ('default', a folder, a hub id), a loaded adapter, or a model in memory: a transformers
    Pipeline, a PreTrainedModel (with ``tokenizer``) or a SentenceTransformer."""
    tokenizer: Any = None
    task: str | None = None
    suites: Annotated[tuple[str, ...] | None, BeforeValidator(_names)] = None
    probes: Annotated[tuple[str, ...] | None, BeforeValidator(_names)] = None
    """The probes to run (with ``suites``: every probe of those too); neither: every probe."""
    probe_params: dict[str, dict[str, Any]] | None = None
    thresholds: dict[str, list[Threshold]] | None = None
    seed: Annotated[int, Strict(), Field(ge=0, le=SEED_MAX)] = 0
    max_cases: Count | None = None
    max_tokens: Count | None = None
    """Tokens each probe may push through the model (default with ``max_cases``: audit.budget.TOKENS_PER_CASE
    per case); a probe over it is cut down until it fits, and its result says what was cut."""
    device: str = "auto"
    dtype: str = "auto"
    batch_size: Count | None = None
    """Rows per forward pass; None: the token budget decides."""
    cache_dir: str | Path | None = None
    use_cache: Flag = True
    offline: Flag | None = None
    trust_remote_code: Flag = False
    allow_pickle: Flag = False
    allow_missing_weights: Flag = False
    max_length: Count | None = None
    revision: str | None = None
    device_map: str | None = None
    explain: bool | str = True
    """True (Integrated Gradients), an attribution method's name, or False."""
    max_explanations: Annotated[int, Strict(), Field(ge=0, le=COUNT_MAX)] = DEFAULT_MAX_EXPLANATIONS
    baseline: Annotated[BaselineSettings | None, BeforeValidator(_baseline)] = None
    """An earlier results.json (and tolerance): the result gets a "baseline" pseudo-probe of regression gates."""
    allow_inconclusive: Flag = False
    """Inconclusive gates are warnings (exit 0) instead of exit code 4 (for the CLI and CI outputs)."""
    config: AuditConfig | dict[str, Any] | None = None
    """The config the run came from, recorded in the results: an AuditConfig (whose thresholds as written are
    also checked against the metrics they bound) or plain data."""

    @classmethod
    def from_config(cls, config: AuditConfig) -> RunSpec:
        """The run a validated YAML config asks for (``audit.run(RunSpec.from_config(load_config(path)))``)."""
        return cls(
            model=config.model,
            task=config.task,
            suites=config.suites or None,
            probes=tuple(config.probes) or None,
            probe_params={name: dict(params) for name, params in config.probes.items() if params},
            thresholds=config.thresholds,
            seed=config.seed,
            max_cases=config.max_cases,
            device=config.device,
            dtype=config.dtype,
            batch_size=config.batch_size,
            explain=config.explain.method or False,
            max_explanations=config.explain.max_cases,
            baseline=config.baseline,
            allow_inconclusive=config.allow_inconclusive,
            config=config,
        )

    @classmethod
    def create(cls, **options: Any) -> RunSpec:
        """A RunSpec, or an AuditError naming the first bad option in one line (a user's mistake, not a bug)."""
        try:
            return cls(**options)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            path, problem = problem_of(error, list(cls.model_fields))
            name = ".".join(str(p) for p in path)
            if error["type"] == "extra_forbidden":
                raise AuditError(f"unknown run option {name!r}{did_you_mean(name, cls.model_fields)}; "
                                 "the options are the fields of audit.RunSpec") from None
            raise AuditError(f"run option {name}: {problem}") from None

    def replace(self, **changes: Any) -> RunSpec:
        """A copy with ``changes`` applied, validated like a new spec."""
        return self.create(**{**{name: getattr(self, name) for name in type(self).model_fields}, **changes})

    def read_baseline(self) -> AuditResult | None:
        """The baseline's results, read before anything runs (a missing file is an error, not a wasted audit)."""
        from audit.results import AuditResult

        return AuditResult.load(self.baseline.path) if self.baseline is not None else None

    def gate(self, result: AuditResult, baseline: AuditResult | None) -> AuditResult:
        """The result as this spec gates it: its config's thresholds checked against the metrics they bound
        (``min:`` on a lower-is-better metric is an error), and the regression gates against ``baseline``."""
        if isinstance(self.config, AuditConfig):
            self.config.check_gates(result)
        if baseline is None or self.baseline is None:
            return result
        from audit.ci import with_baseline

        return with_baseline(result, baseline, self.baseline.tolerance, str(self.baseline.path))

    def recorded_config(self) -> dict[str, Any]:
        """The config as plain data, for the results."""
        return self.config.to_dict() if isinstance(self.config, AuditConfig) else dict(self.config or {})
