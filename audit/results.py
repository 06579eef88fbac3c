"""Typed, serialisable results. The reporter reads only these; a report can be re-rendered
from results.json without the model."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from audit.errors import AuditError

SCHEMA_VERSION = "1.1"
"""1.1: probes may record ``per_case`` values of their gated metrics (paired regression gates)."""
SCHEMA_PATH = Path(__file__).with_name("results.schema.json")

GateStatus = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True)
class Metric:
    """One measured figure, with its uncertainty and the direction that is good.

    Exactly one of ``higher_is_better`` and ``ideal`` says what is good: CrowS-Pairs' ideal is 50,
    not 0, so gates need no special cases.
    """

    name: str
    value: float | None
    ci: tuple[float, float] | None = None
    higher_is_better: bool | None = None
    ideal: float | None = None
    n: int | None = None
    p_value: float | None = None
    unit: str = ""
    group: str = ""
    description: str = ""

    @property
    def key(self) -> str:
        """Unique name within a probe: ``name`` or ``name[group]``."""
        return f"{self.name}[{self.group}]" if self.group else self.name


@dataclass(frozen=True)
class Gate:
    """A threshold applied to a metric, and its outcome."""

    probe: str
    metric: str
    threshold: float
    mode: Literal["ci", "point", "ci_all", "ci_any"]
    status: GateStatus
    value: float | None
    ci: tuple[float, float] | None
    reason: str


@dataclass(frozen=True)
class Case:
    """A case worth explaining: what the probe found most telling.

    ``pair`` holds the counterfactual side (the "she" version of a "he" sentence) so that both can be
    explained and shown side by side; ``target`` is the label or output the explanation is for.
    """

    text: str
    score: float
    reason: str
    target: str | None = None
    pair: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Chart:
    """A chart as data; the reporter draws it. kind: bar | line | heatmap | scatter.

    bar: ``data = [{"label", "value", "low"?, "high"?}]``; line/scatter: ``data = [{"series", "x", "y"}]``;
    heatmap: ``data = {"rows": [...], "cols": [...], "values": [[...]]}``.
    """

    kind: str
    title: str
    x_label: str
    y_label: str
    data: Any
    alt: str = ""


@dataclass(frozen=True)
class ProbeResult:
    """Everything one probe found. ``tables`` maps a name to rows (dicts) for display and CSV."""

    probe: str
    suite: str
    title: str
    headline: str
    metrics: tuple[Metric, ...] = ()
    gates: tuple[Gate, ...] = ()
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    charts: tuple[Chart, ...] = ()
    cases: tuple[Case, ...] = ()
    warnings: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    status: Literal["ok", "skipped", "error"] = "ok"
    per_case: dict[str, dict[str, float]] = field(default_factory=dict)
    """Metric key → {case id → value} for metrics that are a mean over cases (a rate is a mean of 0/1): a
    baseline comparison pairs the cases by id (audit.ci.regression), with no model needed."""

    def metric(self, name: str, group: str = "") -> Metric:
        for m in self.metrics:
            if m.name == name and m.group == group:
                return m
        raise KeyError(f"{self.probe} has no metric {name!r}" + (f" for group {group!r}" if group else ""))


@dataclass(frozen=True)
class ModelInfo:
    """What was audited: identity, provenance and the limits actually in force."""

    spec: str
    source: Literal["default", "local", "hub", "memory"]
    path: str
    task: str
    architecture: str
    fingerprint: str
    parameters: int
    dtype: str
    device: str
    max_length: int
    tokenizer: str
    vocab_size: int
    labels: tuple[str, ...] = ()
    revision: str | None = None
    license: str | None = None
    weights_sha256: str | None = None
    provenance: str = ""
    head: str = ""
    """Which head was used and why (from config.json's architectures, or guessed when it names none)."""
    limits: dict[str, int] = field(default_factory=dict)
    """Every length limit found (position table, tokenizer, sentence-transformers, user); max_length is the smallest."""
    missing_weights: tuple[str, ...] = ()
    unexpected_weights: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    """What makes this audit less than a plain audit of the model as saved (e.g. randomly initialised tensors)."""


@dataclass(frozen=True)
class AuditResult:
    """One audit run: the model, every probe's result, explanations and the environment."""

    model: ModelInfo
    probes: tuple[ProbeResult, ...]
    explanations: tuple[dict[str, Any], ...] = ()
    environment: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    throughput: dict[str, float | str] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION

    @property
    def gates(self) -> list[Gate]:
        return [g for p in self.probes for g in p.gates]

    @property
    def passed(self) -> bool:
        """Every gate passed: an inconclusive gate is not a pass (see audit.ci.exit_code for the exit codes)."""
        return all(g.status == "pass" for g in self.gates)

    def probe(self, name: str) -> ProbeResult:
        for p in self.probes:
            if p.probe == name:
                return p
        raise KeyError(f"no result for probe {name!r}")

    def to_dict(self) -> dict[str, Any]:
        return _clean(dataclasses.asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)

    def save(self, path: str | os.PathLike[str]) -> Path:
        return write_atomic(path, self.to_json())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditResult:
        version = _check_version(data)
        probes = tuple(_probe_from_dict(p) for p in data["probes"])
        model = ModelInfo(**{**data["model"], **{k: tuple(data["model"].get(k, ())) for k in
                                                 ("labels", "missing_weights", "unexpected_weights", "warnings")}})
        rest = {k: data[k] for k in ("environment", "config", "timings", "throughput") if k in data}
        return cls(
            model=model,
            probes=probes,
            explanations=tuple(data.get("explanations", ())),
            schema_version=version,
            **rest,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AuditResult:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"), parse_int=_bounded_int)
        except FileNotFoundError:
            raise AuditError(f"results file not found: {path}; run `audit run` first") from None
        except IsADirectoryError:
            raise AuditError(f"{path} is a folder; pass the results.json inside it") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise AuditError(f"{path} is not valid results JSON ({exc}); pass the results.json that `audit run` wrote") from None
        except OSError as exc:
            raise AuditError(f"cannot read results file {path} ({exc.strerror or exc}); check the path and its permissions") from None
        if not isinstance(data, dict):
            raise AuditError(f"{path} is not an audit results file (it holds a JSON {type(data).__name__}); pass the results.json that `audit run` wrote")
        _check_version(data)
        problem = schema_problem(data)
        if problem:
            raise AuditError(f"{path} is not a valid results file: {problem}; pass the results.json that `audit run` wrote")
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError) as exc:
            raise AuditError(f"{path} is not an audit results file (missing or wrong field: {exc})") from None


def case_id(*parts: object) -> str:
    """A short stable id for a case from what defines it (its text, template, fillers): 12 hex digits of
    SHA-1, so per-case values stay compact and two runs match the same case across versions of the data file."""
    import hashlib

    return hashlib.sha1("\x1f".join(map(str, parts)).encode("utf-8")).hexdigest()[:12]


def case_values(ids: Sequence[str], values: Sequence[float] | Any) -> dict[str, float]:
    """Per-case values of one metric as results.json stores them, rounded to 6 decimals (far below any
    tolerance). A repeated id (the same pair twice in a user's file) gets its occurrence number ("id#2"),
    so repeats still pair in order."""
    if len(ids) != len(values):
        raise ValueError(f"{len(ids)} case ids for {len(values)} values")
    out: dict[str, float] = {}
    seen: dict[str, int] = {}
    for i, v in zip(ids, values):
        seen[i] = seen.get(i, 0) + 1
        out[i if seen[i] == 1 else f"{i}#{seen[i]}"] = round(float(v), 6)
    return out


def _check_version(data: dict[str, Any]) -> str:
    version = str(data.get("schema_version", ""))
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise AuditError(
            f"results schema version {version[:20] or 'missing'} is not supported (this is {SCHEMA_VERSION}); "
            "re-run the audit with this version of transformer-audit"
        )
    return version


_MAX_INT_DIGITS = 19
"""Integers in results are counts and sizes: 19 digits hold any signed 64-bit value."""


def _bounded_int(text: str) -> int | float:
    """json's parse_int: a longer integer becomes inf, which the finiteness check then names by its field
    (instead of Python's 4,300-digit limit failing without saying where)."""
    return int(text) if len(text.lstrip("-")) <= _MAX_INT_DIGITS else math.inf


def _field(path: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "(top level)"


def _non_finite(obj: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """Where a number in a results document is NaN, infinite or too long (None when none is)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return path
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        found = _non_finite(v, (*path, k))
        if found is not None:
            return found
    return None


def schema_problem(data: dict[str, Any]) -> str | None:
    """The first way ``data`` breaks audit/results.schema.json, as "field: problem" (None when it fits):
    results files come from outside (a baseline, a colleague's run), and the reporter trusts their shape."""
    import jsonschema

    bad = _non_finite(data)
    if bad is not None:
        return f"{_field(bad)}: not a finite number (NaN, infinite, or an integer of more than {_MAX_INT_DIGITS} digits)"
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is None:
        return None
    message = error.message if len(error.message) <= 120 else error.message[:117] + "..."
    return f"{_field(error.absolute_path)}: {message}"


def _tuple(v: Any) -> tuple[float, float] | None:
    return None if v is None else (v[0], v[1])


def _probe_from_dict(d: dict[str, Any]) -> ProbeResult:
    return ProbeResult(
        **{
            **d,
            "metrics": tuple(Metric(**{**m, "ci": _tuple(m.get("ci"))}) for m in d.get("metrics", ())),
            "gates": tuple(Gate(**{**g, "ci": _tuple(g.get("ci"))}) for g in d.get("gates", ())),
            "charts": tuple(Chart(**c) for c in d.get("charts", ())),
            "cases": tuple(Case(**c) for c in d.get("cases", ())),
            "warnings": tuple(d.get("warnings", ())),
        }
    )


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf become None, tuples lists, numpy scalars Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if hasattr(obj, "tolist"):
        return _clean(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def check_output(path: str | os.PathLike[str], *, what: str = "output", inputs: Iterable[str | os.PathLike[str] | None] = (),
                 create_parents: bool = False) -> Path:
    """Before anything is written: refuse an output file that cannot or must not be written — a folder, a
    path below a file or below a missing folder (a typo in the folder name should not grow a new tree), a
    socket, or one of this command's inputs (``compare A B -o B`` would destroy B). ``create_parents``: the
    missing folders are created when it is written (an `audit run`'s --junit/--summary, like --out)."""
    target = Path(path)
    if target.is_dir():
        raise AuditError(f"{what} {target} is a folder; name a file")
    if not create_parents and not target.parent.exists() and not target.parent.is_symlink():
        raise AuditError(f"{what} {target}: the folder {target.parent} does not exist; create it first or name a file in an existing folder")
    if target.exists() and stat.S_ISSOCK(target.stat().st_mode):
        raise AuditError(f"{what} {target} is a socket; name a file")
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise AuditError(f"{what} {target} lies under {ancestor}, which is a file; name a path in a folder")
    streamed = target.exists() and not target.is_file()  # /dev/stdout, a pipe: written into, not beside
    if not streamed and not os.access(ancestor, os.W_OK | os.X_OK):
        raise AuditError(f"{what} {target}: the folder {ancestor} is not writable; choose another path")
    real = target.resolve()
    for item in inputs:
        if item is not None and Path(item).resolve() == real:
            raise AuditError(f"{what} {target} is also an input of this command; write the output to another file")
    return target


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically: a crash leaves the old file or none, never half a file.

    A symlink is followed (the file it points to is replaced, the link stays). A target that is not a
    regular file (a terminal, a pipe, /dev/null) is written directly, never renamed over; a folder or a
    socket is refused. An OS error (a full disk, no permission) is an AuditError naming the file.
    """
    target = Path(path)
    try:
        try:
            mode: int | None = target.stat().st_mode  # of what a symlink points to
        except FileNotFoundError:
            mode = None
        if mode is not None and not stat.S_ISREG(mode):
            if stat.S_ISDIR(mode) or stat.S_ISSOCK(mode):
                raise AuditError(f"cannot write {target}: it is a {'folder' if stat.S_ISDIR(mode) else 'socket'}; name a file")
            with open(target, "w", encoding="utf-8") as fh:  # a device or a pipe (/proc/self/fd/1): stream into it
                fh.write(text)
            return target
        final = target.resolve() if target.is_symlink() else target
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", dir=final.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes owner-only files; give the usual permissions
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except RuntimeError:  # Python < 3.13 reports a symlink loop so
        raise AuditError(f"cannot write {target}: it is a symlink loop; remove it or choose another path") from None
    except OSError as exc:
        raise AuditError(f"cannot write {target} ({exc.strerror or exc}); free some space, fix the permissions or "
                         "choose another path") from None
    return target
