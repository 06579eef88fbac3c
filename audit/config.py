"""Declarative audit configs: a YAML file validated (by pydantic models of its sections) into an AuditConfig,
whose ``RunSpec.from_config(config)`` is the run it asks for.

Every error names the file, the line and the key, because a config is usually edited far from where it
runs (in CI). The YAML is *composed* rather than loaded so that each value keeps its line number; files
named under ``include:`` are read first and the including file is merged on top (mappings merge key by
key, lists and scalars are replaced). Paths in a config are relative to the file that names them.
"""
from __future__ import annotations

import json
import math
import os
import re
import stat
import sys
import typing
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PydanticSchemaGenerationError,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from audit.errors import AuditError, did_you_mean
from audit.gates import DEFAULT_MODE, MODES, Mode, Threshold
from audit.ranges import COUNT_MAX, DEFAULT_TOLERANCE, INT_MAX, SEED_MAX, int_problem
from audit.stats import MIN_CASES

if TYPE_CHECKING:  # pragma: no cover
    from audit.results import AuditResult, Metric

Path_ = tuple[Any, ...]
"""Where a value sits in the document: ("thresholds", "bias.weat", 0, "max")."""

MODEL_CARD_KEYS = ("name", "version", "description", "owners", "contact", "license", "intended_use", "out_of_scope",
                   "users", "factors", "training_data", "evaluation_data", "ethical_considerations", "caveats",
                   "limitations", "references")
"""Sections of a model card (Mitchell et al. 2019, "Model Cards for Model Reporting")."""
DTYPES = ("auto", "fp32", "float32", "bf16", "bfloat16", "fp16", "float16")
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
DEFAULT_MAX_EXPLANATIONS = 16
MAX_CONFIG_BYTES = 1 << 20
"""A config (or an included file) larger than 1 MiB is refused: configs are a few hundred lines."""
MAX_DEPTH = 32
"""Deepest nesting of mappings and lists (after alias expansion); the real schema needs five levels."""
MAX_NODES = 100_000
"""Most values a config may expand to: caps alias bombs ("billion laughs") before they take the memory."""
MAX_INCLUDE_DEPTH = 8
MAX_INCLUDED_FILES = 64
"""Longest ``include:`` chain, and most file reads in all (a wide include tree grows exponentially)."""
YAML_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp", "binary", "map", "seq")}
"""The standard tags of the YAML core schema; any other (``!!python/...``, ``!custom``, ``!!set``) is refused."""


@dataclass(frozen=True)
class ThresholdSpec:
    """A threshold as written: which bound (``max``/``min``/``value``) and where, so that a ``min:`` on a
    metric where lower is better can be caught instead of silently gating the wrong way."""

    threshold: Threshold
    bound: Literal["max", "min", "value"]
    where: str


@dataclass(frozen=True)
class ExplainSettings:
    method: str | None = "ig"
    """Attribution method for the telling cases; None turns explanations off."""
    max_cases: int = DEFAULT_MAX_EXPLANATIONS


class BaselineSettings(BaseModel):
    """An earlier run's results.json to gate regressions against (audit.ci.with_baseline); a RunSpec's too."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    path: Path
    tolerance: Annotated[float, Field(ge=0, allow_inf_nan=False)] = DEFAULT_TOLERANCE
    """Largest allowed change of a metric in its bad direction, in the metric's own units."""


@dataclass(frozen=True)
class AuditConfig:
    """A validated audit config; ``RunSpec.from_config(config)`` is the run it asks for."""

    model: str = "default"
    task: str | None = None
    suites: tuple[str, ...] = ()
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Selected probes and their parameters (empty dict: the probe's defaults)."""
    threshold_specs: dict[str, tuple[ThresholdSpec, ...]] = field(default_factory=dict)
    seed: int = 0
    max_cases: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int | None = None
    out: Path | None = None
    explain: ExplainSettings = ExplainSettings()
    baseline: BaselineSettings | None = None
    model_card: dict[str, Any] = field(default_factory=dict)
    allow_inconclusive: bool = False
    """Inconclusive gates are warnings (exit 0) instead of exit code 4."""
    files: tuple[Path, ...] = ()
    """The config file first, then every file it included."""

    @property
    def thresholds(self) -> dict[str, list[Threshold]]:
        return {probe: [s.threshold for s in specs] for probe, specs in self.threshold_specs.items()}

    @property
    def intended_use(self) -> str | None:
        return self.model_card.get("intended_use")

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data, recorded in the results so a report shows what was asked for."""
        return {
            "files": [str(f) for f in self.files],
            "model": self.model,
            "task": self.task,
            "suites": list(self.suites),
            "probes": {k: dict(v) for k, v in self.probes.items()},
            "thresholds": {
                probe: [{"metric": s.threshold.metric, s.bound: s.threshold.value, "mode": s.threshold.mode,
                         "group": s.threshold.group, "min_n": s.threshold.min_n} for s in specs]
                for probe, specs in self.threshold_specs.items()
            },
            "seed": self.seed,
            "max_cases": self.max_cases,
            "device": self.device,
            "dtype": self.dtype,
            "batch_size": self.batch_size,
            "out": None if self.out is None else str(self.out),
            "explain": {"method": self.explain.method, "max_cases": self.explain.max_cases},
            "baseline": None if self.baseline is None else {"path": str(self.baseline.path), "tolerance": self.baseline.tolerance},
            "model_card": dict(self.model_card),
            "allow_inconclusive": self.allow_inconclusive,
        }

    def run_kwargs(self) -> dict[str, Any]:
        """Deprecated (one release): keyword arguments for the deprecated ``audit.runner.run_audit``."""
        warnings.warn("AuditConfig.run_kwargs() is deprecated; use audit.run(RunSpec.from_config(config))",
                      DeprecationWarning, stacklevel=2)
        names = ("model", "task", "thresholds", "seed", "max_cases", "device", "dtype", "batch_size")
        return {**{n: getattr(self, n) for n in names}, "suites": list(self.suites) or None,
                "probes": list(self.probes) or None, "config": self.to_dict(),
                "probe_params": {name: dict(params) for name, params in self.probes.items() if params},
                "explain": self.explain.method or False, "max_explanations": self.explain.max_cases}

    def max_cases_warnings(self) -> list[str]:
        """Gates that this config's max_cases leaves too few cases to pass (see audit.gates.cases_to_pass)."""
        from audit.gates import max_cases_warnings
        from probes.base import registry

        reg = registry()
        return max_cases_warnings(self.max_cases, self.thresholds, {n: reg[n].metric_specs for n in self.thresholds})

    def check_gates(self, result: AuditResult) -> None:
        """After a run: raise AuditError when a threshold as written contradicts its metric — ``min:`` on a
        metric where lower is better, ``max:`` where higher is better, a negative distance from an ideal,
        a share outside [0, 1]. The gate's verdict would otherwise answer a question nobody asked."""
        for probe, specs in self.threshold_specs.items():
            try:
                metrics = result.probe(probe).metrics
            except KeyError:
                continue
            for spec in specs:
                t = spec.threshold
                for m in metrics:
                    if m.name == t.metric and (t.group is None or m.group == t.group):
                        problem = bound_problem(m, spec.bound, t.value)
                        if problem:
                            raise AuditError(f"{spec.where}: thresholds.{probe}: {problem}")


def bound_problem(metric: Metric, bound: str, value: float) -> str | None:
    """Why ``bound: value`` cannot be meant for this metric (None when it can)."""
    key = metric.key
    if metric.ideal is not None:
        if bound == "min":
            return (f"`min: {value:g}` on {key}, whose ideal is {metric.ideal:g}: its threshold bounds the distance from "
                    f"the ideal; write `max: {abs(value):g}`")
        if value < 0:
            return f"{key} is gated on its distance from the ideal {metric.ideal:g}, which cannot be negative; got {value:g}"
        if metric.unit == "share" and value > 1:
            return f"{key} is a share between 0 and 1, so a distance of {value:g} from its ideal can never be reached"
        return None
    if bound == "min" and metric.higher_is_better is False:
        return f"`min: {value:g}` on {key}, but lower {metric.name} is better; write `max: {value:g}` for a ceiling"
    if bound == "max" and metric.higher_is_better is True:
        return f"`max: {value:g}` on {key}, but higher {metric.name} is better; write `min: {value:g}` for a floor"
    if metric.unit == "share" and not 0 <= value <= 1:
        hint = f" (did you mean {value / 100:g}?)" if 1 < value <= 100 else ""
        return f"{key} is a share between 0 and 1, got {value:g}{hint}"
    return None


# --------------------------------------------------------------------------------------------------- reading


@dataclass
class _Doc:
    """Plain data plus the file and line of every value, across included files."""

    data: dict[str, Any]
    marks: dict[Path_, tuple[Path, int]]

    def where(self, path: Path_) -> str:
        for i in range(len(path), -1, -1):
            if path[:i] in self.marks:
                file, line = self.marks[path[:i]]
                return f"{file}:{line}"
        return "<config>"

    def error(self, path: Path_, problem: str) -> AuditError:
        key = ".".join(str(p) for p in path)
        return AuditError(f"{self.where(path)}: {key}: {problem}" if key else f"{self.where(path)}: {problem}")


_SCALARS = yaml.SafeLoader("")


@dataclass
class _Budget:
    """What is left while turning a composed document into data: values, and the nodes being expanded
    (a node that contains itself through an alias is a cycle)."""

    nodes: int = MAX_NODES
    open: set[int] = field(default_factory=set)


def _plain(node: yaml.Node, file: Path, path: Path_, marks: dict[Path_, tuple[Path, int]], budget: _Budget | None = None) -> Any:
    budget = budget if budget is not None else _Budget()
    line = node.start_mark.line + 1
    where = f"{file}:{line}: {'.'.join(map(str, path)) or 'config'}"
    if id(node) in budget.open:
        raise AuditError(f"{where}: an alias refers to a value that contains it (a cycle); write the value out")
    if len(path) > MAX_DEPTH:
        raise AuditError(f"{where}: nested more than {MAX_DEPTH} levels deep; a config needs a few levels")
    budget.nodes -= 1
    if budget.nodes < 0:
        raise AuditError(f"{file}: expands to more than {MAX_NODES:,} values (aliases repeated inside aliases?); "
                         "write the config out plainly")
    if node.tag not in YAML_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        hint = "use include: to share settings" if tag == "!!merge" else "remove the tag and write a plain value"
        raise AuditError(f"{file}:{line}: unsupported YAML tag {tag[:80]}; {hint}")
    marks.setdefault(path, (file, line))
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        budget.open.add(id(node))
        try:
            return _plain_collection(node, file, path, marks, budget)
        finally:
            budget.open.discard(id(node))
    try:
        value = _SCALARS.construct_object(node)
    except (yaml.YAMLError, ValueError) as exc:  # e.g. an integer of more than 4,300 digits
        raise AuditError(f"{where}: cannot read this value ({str(exc).splitlines()[0][:120]}); write a plain number or text") from None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise AuditError(f"{file}:{node.start_mark.line + 1}: {'.'.join(map(str, path))}: text holds a lone surrogate "
                             f"({value[exc.start]!r}); write the character itself or a \\U0001XXXX escape") from None
    if not isinstance(value, (str, int, float, bool, type(None))):
        value = str(node.value)  # dates and the like: keep the text as written
    return value


def _plain_collection(node: yaml.Node, file: Path, path: Path_, marks: dict[Path_, tuple[Path, int]], budget: _Budget) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag not in YAML_TAGS or not isinstance(key_node, yaml.ScalarNode):
                _plain(key_node, file, path, {}, budget)  # names the unsupported tag (a merge key <<, !!python/...)
                raise AuditError(f"{file}:{line}: keys must be names; quote it or rename it")
            key = key_node.value if key_node.tag.endswith(":str") else _plain(key_node, file, path, {}, budget)
            if not isinstance(key, str):
                raise AuditError(f"{file}:{line}: keys must be names, got {key!r}; quote it or rename it")
            if key in out:
                raise AuditError(f"{file}:{line}: {'.'.join(map(str, path + (key,)))}: duplicate key; keep one of them")
            marks[path + (key,)] = (file, line)
            out[key] = _plain(value_node, file, path + (key,), marks, budget)
        return out
    return [_plain(v, file, path + (i,), marks, budget) for i, v in enumerate(node.value)]


def _read_text(path: Path, *, included: bool, what: str = "config") -> str:
    """The text of a YAML file, read with a size cap. An included file must be a regular file (not
    /dev/zero, a pipe or a folder); the config named on the command line may be a pipe (``<(generate)``)."""
    try:
        mode = os.stat(path).st_mode  # before open(), which blocks on a pipe nobody writes to
        if stat.S_ISDIR(mode) or (included and not stat.S_ISREG(mode)):
            raise AuditError(f"{what} {path} is not a regular file; name a .yaml file")
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        hint = f"run `audit init {path}`" if what == "config" else "pass the path of an existing YAML file"
        raise AuditError(f"{what} file not found: {path}; check the path or {hint}") from None
    except IsADirectoryError:
        raise AuditError(f"{what} {path} is not a regular file; name a .yaml file") from None
    except OSError as exc:
        raise AuditError(f"cannot read {what} {path} ({exc.strerror or exc}); check its permissions") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise AuditError(f"{what} {path} is larger than {MAX_CONFIG_BYTES >> 20} MiB; split it or trim it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AuditError(f"cannot read {what} {path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None


def _compose(text: str, path: Path) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise AuditError(f"{path}: nested more than {MAX_DEPTH} levels deep; a YAML file here needs a few levels") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise AuditError(f"{path}{line}: not valid YAML ({problem}); fix the syntax") from None


def read_yaml(path: str | Path, what: str) -> Any:
    """Plain data from a YAML data file (a lexicon): the guards of a config — a regular file under 1 MiB,
    core-schema tags only, no alias bombs, alias cycles or deep nesting — without the config's keys."""
    root = _compose(_read_text(Path(path), included=True, what=what), Path(path))
    return None if root is None else _plain(root, Path(path), (), {})


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for k, v in over.items():
            merged[k] = _merge(base[k], v) if k in base else v
        return merged
    return over


def _read(path: Path, stack: tuple[Path, ...], files: list[Path]) -> _Doc:
    """Read one file and, first, the files it includes. ``path`` is kept as written, for messages;
    ``stack`` holds the resolved files being read, to detect include cycles."""
    if len(stack) > MAX_INCLUDE_DEPTH or len(files) >= MAX_INCLUDED_FILES:
        raise AuditError(f"{path}: includes nest more than {MAX_INCLUDE_DEPTH} files deep or read more than "
                         f"{MAX_INCLUDED_FILES} files; flatten the include: chain")
    text = _read_text(path, included=bool(stack))
    files.append(path)
    root = _compose(text, path)
    marks: dict[Path_, tuple[Path, int]] = {}
    data = _plain(root, path, (), marks) if root is not None else {}
    if not isinstance(data, dict):
        raise AuditError(f"{path}:1: a config is a mapping of keys (model:, probes:, thresholds: …); see `audit init`")
    doc = _Doc(data, marks)
    if isinstance(data.get("probes"), list):  # the short form: a list of names
        names = data["probes"]
        for i, name in enumerate(names):
            if not isinstance(name, str):
                raise doc.error(("probes", i), f"expected a probe name, got {_typename(name)} {name!r}")
            marks[("probes", name)] = marks[("probes", i)]
        data["probes"] = {name: None for name in names}
    includes = data.pop("include", None)
    if includes is None:
        return doc
    if isinstance(includes, str):
        includes, marks[("include", 0)] = [includes], marks[("include",)]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise doc.error(("include",), "expected a file name or a list of file names")
    here = (*stack, path.resolve())
    merged = _Doc({}, {})
    for i, name in enumerate(includes):
        target = path.parent / name
        if target.resolve() in here:
            chain = " → ".join(p.name for p in (*here, target.resolve()))
            raise doc.error(("include", i), f"include cycle: {chain}; remove one of these includes")
        if not target.exists():
            raise doc.error(("include", i), f"included file not found: {target}; check the path (relative to {path})")
        inc = _read(target, here, files)
        merged = _Doc(_merge(merged.data, inc.data), {**merged.marks, **inc.marks})
    return _Doc(_merge(merged.data, data), {**merged.marks, **marks})


# ------------------------------------------------------------------------------------------------ validating
# The document's shape and types are declared once, as the pydantic models below; pydantic checks them
# and _located() words its first error as "file:line: key: problem". What needs the probe registry (names,
# parameters, declared metrics) or the file system is checked after, in _validate().


def _typename(value: Any) -> str:
    return {bool: "true/false", int: "a whole number", float: "a number", str: "text", list: "a list", dict: "a mapping",
            type(None): "nothing (null)"}.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    """A value for a one-line message: its repr, cut short (a list of 10,000 texts, a 400-digit number)."""
    text = repr(value) if not isinstance(value, int) or value.bit_length() <= 200 else f"<a number of about {int(value.bit_length() * 0.30103) + 1} digits>"
    return text if len(text) <= 80 else text[:77] + "..."


def _problem(message: str) -> PydanticCustomError:
    """An error raised inside a validator, already in the user's words (kept as it is by problem_of)."""
    return PydanticCustomError("audit", "{problem}", {"problem": message})


def _text(value: str) -> str:
    if not value.strip():
        raise _problem(f"expected text, got text {_shown(value)}")
    return value


def _finite(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and (
            not math.isfinite(value) if isinstance(value, float) else abs(value) > INT_MAX):
        raise _problem(f"expected a finite number within ±{INT_MAX:.3g}, got {_shown(value)}")
    return value


Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
Count = Annotated[int, Field(ge=1, le=COUNT_MAX)]
"""Whole numbers in the range they are used in (audit.ranges: the CLI applies the same rule); cases, rows, explanations: at least one, at most a 32-bit index (audit.ranges)."""
Text = Annotated[str, AfterValidator(_text)]
Number = Annotated[float, BeforeValidator(_finite)]


class _Section(BaseModel):
    """Strict: a quoted '3' is not a number and true is not 1; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _ThresholdDoc(_Section):
    metric: Text
    max: Number | None = None
    min: Number | None = None
    value: Number | None = None
    mode: Mode = DEFAULT_MODE
    group: Any = None
    min_n: Count = MIN_CASES

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, mode: Any) -> Any:
        if mode not in MODES:
            raise _problem(f"unknown mode {mode!r}{did_you_mean(mode, MODES)}; " + "; ".join(f"{k}: {v}" for k, v in MODES.items()))
        return mode

    @field_validator("group")
    @classmethod
    def _group(cls, group: Any) -> str | None:
        return None if group is None else str(group)

    @model_validator(mode="after")
    def _one_bound(self) -> _ThresholdDoc:
        if len(self.bounds) != 1:
            raise _problem("give exactly one of max: (a ceiling), min: (a floor) or value: (either, by the metric's "
                           f"direction); found {', '.join(self.bounds) or 'none'}")
        return self

    @property
    def bounds(self) -> list[str]:
        return [b for b in ("max", "min", "value") if getattr(self, b) is not None]


def _threshold_list(value: Any) -> Any:
    """One threshold may be written without the list around it."""
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise _problem(f"expected a list of thresholds (- metric: …, max: …), got {_typename(value)}")
    return value


class _ExplainDoc(_Section):
    method: Any = "ig"
    """An attribution method, or false for none."""
    max_cases: Annotated[int, Field(ge=0, le=COUNT_MAX)] = DEFAULT_MAX_EXPLANATIONS

    @field_validator("method")
    @classmethod
    def _method(cls, method: Any) -> str | None:
        if method is False:
            return None
        if not isinstance(method, str) or not method.strip():
            raise _problem(f"expected text, got {_typename(method)} {_shown(method)}")
        return method


class _BaselineDoc(_Section):
    path: Text
    tolerance: Number = DEFAULT_TOLERANCE

    @field_validator("tolerance")
    @classmethod
    def _tolerance(cls, tolerance: float) -> float:
        if tolerance < 0:
            raise _problem(f"a tolerance cannot be negative, got {tolerance:g}; use 0 to allow no regression")
        return tolerance


def _card_value(value: Any) -> Any:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in items):
        raise _problem(f"expected text or a list of texts, got {_typename(value)}")
    return value


_CardDoc = create_model("_CardDoc", __base__=_Section,
                        **{k: (Annotated[Any, AfterValidator(_card_value)], None) for k in MODEL_CARD_KEYS})  # type: ignore[call-overload]


def _suites_form(value: Any) -> Any:
    """``suites: bias`` is ``suites: [bias]``."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise _problem(f"expected a list of names, got {_typename(value)}")
    return value


def _batch_size_form(value: Any) -> Any:
    return None if value == "auto" else value


def _explain_form(value: Any) -> Any:
    """``explain: true`` (or nothing), ``explain: false`` and ``explain: METHOD`` are short for the mapping."""
    if value is None or value is True:
        return {}
    if value is False:
        return {"method": False}
    return {"method": value} if isinstance(value, str) else value


def _baseline_form(value: Any) -> Any:
    """``baseline: prev/results.json`` is short for ``baseline: {path: prev/results.json}``."""
    return {"path": value} if isinstance(value, str) else value


class _ConfigDoc(_Section):
    """An audit config as written (after ``include:`` merging)."""

    include: Any = None
    """Read (and removed) before validation; listed so that an unknown key's message names it."""
    model: Text = "default"
    task: Text | None = None
    suites: Annotated[list[Text], BeforeValidator(_suites_form)] = []
    probes: dict[str, dict[str, Any] | None] | None = None
    thresholds: dict[str, Annotated[list[_ThresholdDoc], BeforeValidator(_threshold_list)]] | None = None
    seed: Seed = 0
    max_cases: Count | None = None
    device: Text = "auto"
    dtype: str = "auto"
    batch_size: Annotated[Count | None, BeforeValidator(_batch_size_form)] = None
    out: Text | None = None
    explain: Annotated[_ExplainDoc, BeforeValidator(_explain_form)] = _ExplainDoc()
    baseline: Annotated[_BaselineDoc | None, BeforeValidator(_baseline_form)] = None
    intended_use: Text | None = None
    model_card: _CardDoc | None = None  # type: ignore[valid-type]
    allow_inconclusive: bool = False

    @field_validator("device")
    @classmethod
    def _device(cls, device: str) -> str:
        if not DEVICE_PATTERN.fullmatch(device):
            raise _problem(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps")
        return device

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, dtype: str) -> str:
        if dtype not in DTYPES:
            raise _problem(f"unknown dtype {dtype!r}{did_you_mean(dtype, DTYPES)}; use auto, fp32, bf16 or fp16")
        return dtype


_SECTIONS: dict[str, type[BaseModel]] = {"thresholds": _ThresholdDoc, "explain": _ExplainDoc, "baseline": _BaselineDoc,
                                         "model_card": _CardDoc}
_NEEDED = {"metric": "a threshold needs `metric:` (the name of the metric it bounds)",
           "path": "a baseline needs `path:` (the results.json of an earlier run)"}


def problem_of(error: Any, allowed: Sequence[str]) -> tuple[Path_, str]:
    """(where, problem) of one pydantic error, in this module's words; ``allowed``: the keys the section of
    an unknown key has. A missing key is reported at its section."""
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "audit":
        return loc, str(ctx["problem"])
    if kind == "missing":
        return loc[:-1], _NEEDED.get(str(loc[-1]), f"`{loc[-1]}:` is required")
    if kind == "extra_forbidden":
        return loc, f"unknown key{did_you_mean(str(loc[-1]), allowed)}; allowed here: {', '.join(allowed)}"
    if kind in ("greater_than_equal", "less_than_equal") and isinstance(value, int):
        return loc, int_problem(value, ctx.get("ge", value), ctx.get("le", value)) or error["msg"]
    wording = {
        "int_type": "expected a whole number", "float_type": "expected a number", "string_type": "expected text",
        "bool_type": "expected true or false", "dict_type": "expected a mapping (key: value lines)",
        "model_type": "expected a mapping (key: value lines)", "list_type": "expected a list",
    }.get(kind)
    if wording is None:
        return loc, error["msg"]
    shown = "" if isinstance(value, (dict, list)) else " " + _shown(value)
    return loc, f"{wording}, got {_typename(value)}{shown}"


def _located(doc: _Doc, exc: ValidationError) -> AuditError:
    """The first validation error, at the file and line of the value it is about."""
    error = exc.errors(include_url=False)[0]
    section = _SECTIONS.get(str(error["loc"][0]), _ConfigDoc) if len(error["loc"]) > 1 else _ConfigDoc
    path, problem = problem_of(error, list(section.model_fields))
    return doc.error(path, problem)


def _hint_text(hint: Any) -> str:
    return re.sub(r"typing\.|collections\.abc\.", "", hint.__name__ if isinstance(hint, type) else str(hint))


def _fits(value: Any, hint: Any) -> bool:
    """Does a YAML value fit a constructor's type hint? Checked by pydantic in strict JSON mode (YAML data
    is JSON data: a list fits a tuple or Sequence hint; nothing is coerced, so '3' is not 3 and true is not 1);
    numbers beyond ±INT_MAX or not finite never fit a typed parameter. A hint pydantic cannot check fits."""
    if hint is typing.Any:
        return True
    if not _within_range(value):
        return False
    try:
        adapter = TypeAdapter(hint, config=ConfigDict(strict=True))
    except (PydanticSchemaGenerationError, TypeError):
        return True
    try:
        adapter.validate_json(json.dumps(value))
    except ValidationError:
        return False
    return True


def _within_range(value: Any) -> bool:
    if isinstance(value, list):
        return all(_within_range(v) for v in value)
    if isinstance(value, dict):
        return all(_within_range(v) for v in value.values())
    try:
        _finite(value)
    except PydanticCustomError:
        return False
    return True


def probe_parameters(cls: Any) -> dict[str, Any]:
    """A probe class's declared parameters and their types (``Probe.parameters``)."""
    return {name: p.type for name, p in cls.parameters().items()}


def _probes(doc: _Doc, raw: dict[str, dict[str, Any] | None], registry: dict[str, type]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, params in raw.items():
        path = ("probes", name)
        if name not in registry:
            raise doc.error(path, f"unknown probe{did_you_mean(name, registry)}; `audit list` shows them all")
        accepted = probe_parameters(registry[name])
        params = params or {}
        for pname, value in params.items():
            if pname == "thresholds":
                raise doc.error(path + (pname,), "set thresholds in the top-level thresholds: section")
            try:
                cls: Any = registry[name]  # a Probe subclass
                cls.check_parameters({pname: value})
            except AuditError as exc:
                raise doc.error(path + (pname,), str(exc)) from None
            if not _fits(value, accepted[pname]):
                raise doc.error(path + (pname,), f"expected {_hint_text(accepted[pname])}, got {_typename(value)} {_shown(value)}")
        out[name] = dict(params)
        for pname in DATA_PARAMETERS & set(params):  # a data file named in a config is relative to that file too
            value = params[pname]
            if isinstance(value, str) and _relative(doc, path + (pname,), value).exists():
                out[name][pname] = str(_relative(doc, path + (pname,), value))
    return out


def _thresholds(doc: _Doc, raw: dict[str, list[_ThresholdDoc]], registry: dict[str, type],
                selected: set[str]) -> dict[str, tuple[ThresholdSpec, ...]]:
    out: dict[str, tuple[ThresholdSpec, ...]] = {}
    for probe, items in raw.items():
        path = ("thresholds", probe)
        if probe not in registry:
            raise doc.error(path, f"unknown probe{did_you_mean(probe, registry)}; `audit list` shows them all")
        if probe not in selected:
            raise doc.error(path, f"probe {probe!r} is not selected; add it under probes: (or its suite under suites:)")
        specs = []
        for i, item in enumerate(items):
            bound = item.bounds[0]
            threshold = Threshold(item.metric, getattr(item, bound), item.mode, item.group, item.min_n)
            _check_declared(doc, path + (i,), registry[probe], threshold, bound)
            specs.append(ThresholdSpec(threshold, bound, doc.where(path + (i, bound))))  # type: ignore[arg-type]
        out[probe] = tuple(specs)
    return out


def _check_declared(doc: _Doc, path: Path_, cls: Any, threshold: Threshold, bound: str) -> None:
    """Against the probe's static metric declaration (when it has one): the metric exists, can be gated, and
    the bound points the metric's way — before any model loads."""
    specs = {s.name: s for s in getattr(cls, "metric_specs", ())}
    if not specs:
        return
    spec = specs.get(threshold.metric)
    if spec is None:
        gateable = [n for n, s in specs.items() if s.gateable]
        raise doc.error(path + ("metric",), f"probe {cls.name!r} has no metric {threshold.metric!r}"
                                            f"{did_you_mean(threshold.metric, specs)}; its gateable metrics: {', '.join(gateable)}")
    if not spec.gateable:
        raise doc.error(path + ("metric",), f"{threshold.metric} of {cls.name} has no good direction (it is context for the "
                                            "other metrics) and cannot be gated; gate another metric")
    from audit.results import Metric

    problem = bound_problem(Metric(spec.name, None, None, spec.higher_is_better, spec.ideal,
                                   unit="share" if spec.proportion == 1 else ""), bound, threshold.value)
    if problem:
        raise doc.error(path + (bound,), problem)


DATA_PARAMETERS = frozenset({"data", "dataset", "pairs_file", "lexicon_file", "sets_file"})
"""Probe parameters that name a data file (or a hub dataset id, left as it is)."""


def _relative(doc: _Doc, path: Path_, name: str) -> Path:
    """A path named in a config is relative to the file that names it."""
    file = doc.marks.get(path, (Path("."), 0))[0]
    p = Path(name).expanduser()
    return p if p.is_absolute() else (file.parent / p)

def _model_card(doc: _Doc, parsed: _ConfigDoc) -> dict[str, Any]:
    written = doc.data.get("model_card") or {}
    card = {key: getattr(parsed.model_card, key) for key in written}  # in the order written
    if parsed.intended_use is not None:
        if "intended_use" in card:
            raise doc.error(("intended_use",), "also given under model_card:; keep one of them")
        card["intended_use"] = parsed.intended_use
    return card


def _validate(doc: _Doc, files: list[Path]) -> AuditConfig:
    from audit.tasks import TASKS
    from probes.base import registry, suites

    try:
        parsed = _ConfigDoc.model_validate(doc.data)
    except ValidationError as exc:
        raise _located(doc, exc) from None
    reg, by_suite = registry(), suites()
    model = parsed.model
    if ("model",) in doc.marks and not Path(model).is_absolute():
        local = _relative(doc, ("model",), model)
        if local.exists():
            model = str(local)
    task = parsed.task
    if task is not None and task not in TASKS:
        raise doc.error(("task",), f"unknown task {task!r}{did_you_mean(str(task), TASKS)}; choose from: {', '.join(TASKS)}")
    for i, s in enumerate(parsed.suites):
        if s not in by_suite:
            raise doc.error(("suites", i), f"unknown suite {s!r}{did_you_mean(s, by_suite)}; choose from: {', '.join(by_suite)}")
    probes = _probes(doc, parsed.probes or {}, reg)
    selected = set(probes) | {n for s in parsed.suites for n in by_suite[s]} if (probes or parsed.suites) else set(reg)
    baseline = parsed.baseline
    return AuditConfig(
        model=model,
        task=task,
        suites=tuple(parsed.suites),
        probes=probes,
        threshold_specs=_thresholds(doc, parsed.thresholds or {}, reg, selected),
        seed=parsed.seed,
        max_cases=parsed.max_cases,
        device=parsed.device,
        dtype=parsed.dtype,
        batch_size=parsed.batch_size,
        out=None if parsed.out is None else _relative(doc, ("out",), parsed.out),
        explain=ExplainSettings(parsed.explain.method, parsed.explain.max_cases),
        baseline=None if baseline is None else BaselineSettings(path=_relative(doc, ("baseline", "path"), baseline.path),
                                                                    tolerance=baseline.tolerance),
        model_card=_model_card(doc, parsed),
        allow_inconclusive=parsed.allow_inconclusive,
        files=tuple(files),
    )


def load_config(path: str | Path) -> AuditConfig:
    """Read, merge (``include:``) and validate an audit config; AuditError names file, line and key."""
    files: list[Path] = []
    doc = _read(Path(path).expanduser(), (), files)
    return _validate(doc, list(dict.fromkeys(files)))  # files read more than once (a shared base) listed once


# ------------------------------------------------------------------------------------------------- commands


def validate_command(path: str | Path) -> int:
    """``audit validate FILE``: 0 and a one-line summary when the config is valid, 2 and the error when not."""
    try:
        cfg = load_config(path)
    except AuditError as exc:
        print(f"audit: error: {exc}", file=sys.stderr)
        return AuditError.exit_code
    n_gates = sum(len(v) for v in cfg.threshold_specs.values())
    what = ", ".join(cfg.probes) or (f"suites {', '.join(cfg.suites)}" if cfg.suites else "every probe")
    print(f"{path}: valid — model {cfg.model}; runs {what}; {n_gates} threshold(s)"
          + (f"; baseline {cfg.baseline.path} (tolerance {cfg.baseline.tolerance:g})" if cfg.baseline else ""))
    for line in cfg.max_cases_warnings():
        print(f"audit: warning: {line}", file=sys.stderr)
    return 0


def starter_config() -> str:
    """The commented starter config that ``audit init`` writes (it validates as written)."""
    from probes.base import registry

    listing = []
    for name, cls in registry().items():
        params = [p for p in probe_parameters(cls) if p not in ("seed", "max_cases", "thresholds")]
        listing.append(f"#   {name:30} [{cls.suite}] parameters: {', '.join(params) or '(none)'}")
    return STARTER.format(probes="\n".join(listing), modes="\n".join(f"#   {k:7} {v}" for k, v in MODES.items()))


STARTER = """\
# transformer-audit config. Check it with `audit validate audit.yaml`; run it with
# `audit run --config audit.yaml --junit audit-junit.xml --summary audit-summary.md`.
# Paths are relative to this file. `include: [base.yaml]` merges a shared base config under this one.

model: default              # 'default' (packaged all-MiniLM-L6-v2), a local folder, or a hub id
# task: text-classification # only when the task head is not detected as you want

# What to run: whole suites, and/or probes by name with their parameters (empty: the defaults).
# suites: [bias, multilingual, long_input]
probes:
  robustness.perturbation:
    perturbations: [typo, whitespace]

# Gates: per probe, a list of bounds on its metrics. max: is a ceiling (for metrics where lower is
# better, or the distance from an ideal value such as 50 for CrowS-Pairs); min: is a floor (higher is
# better). A gate passes only when the evidence shows the metric within the bound, fails when it shows
# it past the bound, and is otherwise "inconclusive" (exit code 4; never a pass), as is a metric measured
# on fewer than min_n cases. mode (default ci):
{modes}
thresholds:
  robustness.perturbation:
    - metric: flip_rate
      max: 0.2
      # mode: ci            # the default; point / ci_all are lenient, ci_any strict
      # group: typo         # only this group of the metric (default: every group)
      # min_n: 10

seed: 0
# max_cases: 200            # cap the cases per probe (a seeded sample) to run faster
# device: auto              # auto, cpu, cuda, cuda:N, mps
# dtype: auto               # auto, fp32, bf16, fp16
# batch_size: auto
out: audit-out
explain: {{method: ig, max_cases: 16}}   # or false
# baseline: {{path: previous/results.json, tolerance: 0.02}}   # fail on regressions beyond the tolerance
# allow_inconclusive: false # true: inconclusive gates are warnings (exit 0) instead of exit code 4

model_card:
  intended_use: Describe what the model is for and who uses it.
  # out_of_scope: What it must not be used for.
  # limitations / caveats / ethical_considerations / training_data / evaluation_data / owners / license

# Probes available here (`audit list` for more):
{probes}
"""


def init_command(path: str | Path = "audit.yaml", *, force: bool = False) -> int:
    """``audit init [FILE] [--force]``: write the starter config; refuse to overwrite without --force."""
    from audit.results import check_output, write_atomic

    target = check_output(path, what="config")
    if target.exists() and not force:
        print(f"audit: error: {target} already exists; pass --force to overwrite it or choose another file name", file=sys.stderr)
        return AuditError.exit_code
    write_atomic(target, starter_config())
    print(f"wrote {target}; edit it, then run `audit validate {target}`")
    return 0
