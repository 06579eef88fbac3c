"""On-disk cache of model outputs keyed by (model fingerprint, primitive, input).

SQLite (standard library): one file, transactional — a run killed with kill -9 keeps every batch it
committed and the next run resumes from there — safe for several processes, and fast for the
key-value access that the engine needs. Arrow via ``datasets`` would suit bulk scans, which the engine
never does.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np


def default_cache_dir() -> Path:
    env = os.environ.get("TRANSFORMER_AUDIT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "transformer-audit"


def make_key(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        b = p.encode("utf-8") if isinstance(p, str) else p
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _dump(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a), allow_pickle=False)  # keeps 0-d arrays 0-d
    return buf.getvalue()


def _load(b: bytes) -> np.ndarray:
    return np.load(io.BytesIO(b), allow_pickle=False)


class OutputCache:
    """A persistent key → ndarray store (and key → JSON document, for results that are not arrays, such as
    explanations). ``OutputCache(None)`` keeps everything in memory."""

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        self.path = None if directory is None else Path(directory) / "outputs.sqlite"
        if self.path is None:
            self._conn = sqlite3.connect(":memory:", check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS outputs (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        self._conn.execute("CREATE TABLE IF NOT EXISTS documents (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._conn.commit()

    def get_many(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, np.ndarray] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = f"SELECT key, value FROM outputs WHERE key IN ({','.join('?' * len(chunk))})"
            for k, v in self._conn.execute(q, chunk):
                found[k] = _load(v)
        return found

    def put_many(self, items: Mapping[str, np.ndarray]) -> None:
        """Store a batch of outputs in one transaction (committed before returning)."""
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO outputs (key, value) VALUES (?, ?)",
                [(k, _dump(v)) for k, v in items.items()],
            )

    def get_json(self, key: str) -> object | None:
        row = self._conn.execute("SELECT value FROM documents WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put_json(self, key: str, value: object) -> None:
        """Store one JSON document (strict JSON: NaN and infinities are refused, not silently written)."""
        with self._conn:
            self._conn.execute("INSERT OR REPLACE INTO documents (key, value) VALUES (?, ?)",
                               (key, json.dumps(value, allow_nan=False, sort_keys=True)))

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM outputs").fetchone()[0])

    def close(self) -> None:
        self._conn.close()
