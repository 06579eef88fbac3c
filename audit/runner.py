"""Run an audit: load the model, run the probes, explain the telling cases, collect one AuditResult."""
from __future__ import annotations

import platform
import random
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audit import distributed, probe_cache
from audit.budget import run_within, token_budget
from audit.errors import AuditError
from audit.gates import Threshold
from audit.loading import adapt, load
from audit.progress import Progress
from audit.results import AuditResult, Case, ProbeResult
from audit.run_spec import RunSpec
from audit.tasks.base import AuditedModel
from audit.versions import package_versions
from probes.base import Probe, resolve


def environment(model: AuditedModel, seed: int) -> dict[str, Any]:
    """Package versions, platform, device, dtype, seed and the toolkit's git revision when known."""
    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": dict(package_versions()),
        "device": model.info.device,
        "dtype": model.info.dtype,
        "seed": seed,
        "command": " ".join(["audit", *sys.argv[1:]]) if Path(sys.argv[0]).name in ("audit", "__main__.py") else None,
    }
    if torch.cuda.is_available() and model.info.device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(0)
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
        env["git_revision"] = rev.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        env["git_revision"] = None
    return env


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_probes(
    model: AuditedModel,
    *,
    suites: Sequence[str] | None,
    probes: Sequence[str] | None,
    probe_params: Mapping[str, Mapping[str, Any]] | None,
    thresholds: Mapping[str, list[Threshold]] | None,
    seed: int,
    max_cases: int | None,
) -> tuple[list[Probe], list[ProbeResult]]:
    """Instantiate and validate every probe before any runs; probes the model cannot serve are skipped
    (or an error, when the user named them)."""
    classes = resolve(list(probes or []), list(suites or []))
    named = set(probes or [])
    for name in list(probe_params or {}) + list(thresholds or {}):
        if name not in {c.name for c in classes}:
            from audit.errors import unknown_name

            raise unknown_name("probe in the parameters or thresholds (it is not selected)", name, [c.name for c in classes])
    chosen: list[Probe] = []
    skipped: list[ProbeResult] = []
    for cls in classes:
        params = dict((probe_params or {}).get(cls.name, {}))
        cls.check_parameters(params)
        probe = cls(**{"seed": seed, "max_cases": max_cases, **params})
        if thresholds and cls.name in thresholds:
            probe.thresholds = list(thresholds[cls.name])
            cls.check_thresholds(probe.thresholds)
        if not probe.supports(model):
            if cls.name in named:
                probe.validate(model)  # raises the explanatory error
            skipped.append(ProbeResult(
                probe=cls.name, suite=cls.suite, title=cls.title, status="skipped",
                headline=(f"Skipped: needs {cls.needs()}, which a {model.task} model does not offer."
                          if not Probe.supports(probe, model) else
                          "Skipped: does not apply to this model with these parameters (see the card; e.g. name the languages)."),
                card=dict(cls.card)))
            continue
        probe.validate(model)
        chosen.append(probe)
    if not chosen:
        raise AuditError(f"none of the selected probes can audit a {model.task} model; run `audit list` to see what each probe needs")
    return chosen, skipped


def run(spec: RunSpec, *, progress: bool | Progress = True) -> AuditResult:
    """Run the audit ``spec`` describes and return the results, gated as it asks (thresholds, baseline).

    ``progress`` is True (one overall bar on stderr, closed on return), False, or a caller's ``Progress``
    that stays open for its own stages (the CLI's report writing).
    """
    model, explain, seed, max_explanations = spec.model, spec.explain, spec.seed, spec.max_explanations
    budget = token_budget(spec.max_tokens, spec.max_cases)
    if explain is not True and explain is not False:
        from audit.errors import unknown_name
        from audit.explain.names import METHODS

        if str(explain) not in METHODS:
            raise unknown_name("explanation method", str(explain), METHODS)
    baseline = spec.read_baseline()
    resolve(list(spec.probes or []), list(spec.suites or []))  # a misspelt probe or suite fails before the model loads
    t0 = time.perf_counter()
    seed_everything(seed)
    bar = progress if isinstance(progress, Progress) else Progress(
        total=0.0 if isinstance(model, AuditedModel) else 1.0, enabled=bool(progress) and distributed.is_main_process())
    try:
        if isinstance(model, AuditedModel):
            m = model
        elif isinstance(model, (str, Path)):
            bar.stage(f"loading {model}")
            m = load(str(model), task=spec.task, device=spec.device, dtype=spec.dtype, batch_size=spec.batch_size,
                     cache_dir=spec.cache_dir, use_cache=spec.use_cache, offline=spec.offline,
                     trust_remote_code=spec.trust_remote_code, allow_pickle=spec.allow_pickle,
                     allow_missing_weights=spec.allow_missing_weights, max_length=spec.max_length,
                     revision=spec.revision, device_map=spec.device_map, progress=False)
        else:
            bar.stage("adapting the model in memory")
            m = adapt(model, tokenizer=spec.tokenizer, task=spec.task, device=spec.device, dtype=spec.dtype,
                      batch_size=spec.batch_size, cache_dir=spec.cache_dir, use_cache=spec.use_cache,
                      max_length=spec.max_length, progress=False)
        t_load = time.perf_counter()
        chosen, results = build_probes(m, suites=spec.suites, probes=spec.probes, probe_params=spec.probe_params,
                                       thresholds=spec.thresholds, seed=seed, max_cases=spec.max_cases)
        timings: dict[str, float] = {"load": round(t_load - t0, 3)}
        to_explain = float(max_explanations) if explain else 0.0  # progress units: one per case at most
        bar.add(len(chosen) + to_explain)
        engine_bars, m.engine.progress = m.engine.progress, m.engine.progress and not bar.enabled  # one bar, not one per step
        cached: list[str] = []
        for probe in chosen:
            bar.stage(probe.name)
            seed_everything(seed)
            start = time.perf_counter()
            cache_key = probe_cache.key(m, probe, budget) if probe_cache.enabled(m) else None
            result = probe_cache.get(m, cache_key) if cache_key else None
            if result is None:
                result = run_within(probe, m, budget)
                if cache_key:
                    probe_cache.put(m, cache_key, result)
            else:
                result = ProbeResult(**{**result.__dict__, "seconds": round(time.perf_counter() - start, 3)})
                cached.append(probe.name)
            results.append(result)
            timings[probe.name] = result.seconds
        order = {p.name: i for i, p in enumerate(chosen)}
        results.sort(key=lambda r: (r.suite, order.get(r.probe, -1), r.probe))
        t_probes = time.perf_counter()
        explanations: list[dict[str, Any]] = []
        if explain:
            n = len(telling_cases(results, max_explanations))
            bar.add(n - to_explain)  # the plan counted the most there could be
            bar.stage(f"explanations ({n} telling case{'s' if n != 1 else ''})", weight=n)
            explanations = explain_telling_cases(m, results, "ig" if explain is True else str(explain), max_explanations)
        m.engine.progress = engine_bars
    except BaseException:
        if bar is not progress:
            bar.close(ok=False)
        raise
    if bar is not progress:
        bar.close()
    t_end = time.perf_counter()
    timings.update({"explain": round(t_end - t_probes, 3), "total": round(t_end - t0, 3)})
    audited = AuditResult(
        model=m.info,
        probes=tuple(results),
        explanations=tuple(explanations),
        environment=environment(m, seed),
        config=spec.recorded_config(),
        timings=timings,
        throughput={**m.engine.stats.as_dict(), "probes_from_cache": ", ".join(cached)},
    )
    return spec.gate(audited, baseline)


def run_audit(model: Any = "default", **options: Any) -> AuditResult:
    """Deprecated (kept for one release): ``run(RunSpec(model=model, **options))``."""
    warnings.warn("audit.runner.run_audit(model, **options) is deprecated; use audit.run(model, **options) or "
                  "audit.runner.run(RunSpec(...))", DeprecationWarning, stacklevel=2)
    progress = options.pop("progress", True)
    return run(RunSpec.create(model=model, **options), progress=progress)


def telling_cases(results: Sequence[ProbeResult], limit: int) -> list[Case]:
    """The cases to explain: an equal quota of each probe's telling cases, at most ``limit`` in all."""
    per_probe = [r for r in results if r.cases]
    if not per_probe or limit <= 0:
        return []
    quota = max(1, limit // len(per_probe))
    cases = [Case(**{**c.__dict__, "meta": {**c.meta, "probe": r.probe}}) for r in per_probe for c in r.cases[:quota]]
    return cases[:limit]


def explain_telling_cases(model: AuditedModel, results: list[ProbeResult], method: str, limit: int) -> list[dict[str, Any]]:
    """Attributions for the cases each probe marked as telling, shared fairly across probes."""
    from audit.explain import explain_cases

    cases = telling_cases(results, limit)
    if not cases:
        return []
    try:
        return explain_cases(model, cases, method=method, max_cases=limit)
    except AuditError as exc:  # e.g. a head the explanation module does not cover: say so, keep the audit
        return [{"text": "", "probe": None, "method": method, "error": f"explanations unavailable: {exc}"}]
