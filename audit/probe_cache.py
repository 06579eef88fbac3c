"""Whole probe results cached, so that re-running an unchanged audit costs what changed.

The key covers everything that can change a probe's result: the model (fingerprint, device, dtype, labels),
the probe's name and parameters (seed, case cap and thresholds among them) with the contents of any file a
parameter names, the token budget, the versions of the libraries and data packages, and the toolkit's own
code and data files (a change to any of them is a new key: conservative, never stale). Results live in the
output cache's documents table next to the outputs they were computed from.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.cache import make_key
from audit.versions import code_fingerprint, package_versions

if TYPE_CHECKING:  # pragma: no cover
    from audit.results import ProbeResult
    from audit.tasks.base import AuditedModel
    from probes.base import Probe

FORMAT = "probe-result/1"

def _versions() -> str:
    return json.dumps(dict(package_versions()), sort_keys=True)


def _file_digests(params: dict[str, Any]) -> dict[str, str]:
    """Contents of the files that parameters name (a pairs file edited in place is a new key)."""
    out = {}
    for name, value in params.items():
        if isinstance(value, str) and len(value) < 4096:
            path = Path(value)
            try:
                if path.is_file():
                    out[name] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                continue
    return out


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """SHA-256 of what decides a fast tokenizer's output: its full serialised pipeline (normaliser, pre-tokenizer,
    model and vocabulary, post-processor) and its special tokens; not the truncation and padding state, which
    each call sets."""
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    spec.pop("truncation", None)
    spec.pop("padding", None)
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    h.update(json.dumps(spec, sort_keys=True).encode())
    h.update(json.dumps(tokenizer.special_tokens_map, sort_keys=True, default=str).encode())
    return h.hexdigest()


def key(model: AuditedModel, probe: Probe, budget: int | None) -> str:
    params = probe.get_params()
    info = model.info
    if probe.tokenizer_only:  # shared by every model with this tokenizer
        return make_key(FORMAT, "tokenizer", tokenizer_fingerprint(model.tokenizer), probe.name,
                        json.dumps(params, sort_keys=True, default=str), json.dumps(_file_digests(params), sort_keys=True),
                        _versions(), code_fingerprint())
    return make_key(FORMAT, info.fingerprint, info.device, info.dtype, json.dumps(list(info.labels)), probe.name,
                    json.dumps(params, sort_keys=True, default=str), json.dumps(_file_digests(params), sort_keys=True),
                    str(budget), _versions(), code_fingerprint())


def enabled(model: AuditedModel) -> bool:
    """Only with a persistent output cache (``--no-cache`` and in-memory caches recompute every probe), and in one
    process (data-parallel ranks each run their share of every probe)."""
    return getattr(model.engine.cache, "path", None) is not None and model.engine.world == 1


def get(model: AuditedModel, cache_key: str) -> ProbeResult | None:
    from audit.results import _probe_from_dict

    doc = model.engine.cache.get_json(cache_key)
    return None if doc is None else _probe_from_dict(doc)  # type: ignore[arg-type]


def put(model: AuditedModel, cache_key: str, result: ProbeResult) -> None:
    """Store a result that ran (a skipped or cut-short result is not worth keeping)."""
    from audit.results import _clean

    if result.status == "ok":
        model.engine.cache.put_json(cache_key, _clean(dataclasses.asdict(result)))
