"""On-disk cache of model outputs keyed by (model fingerprint, primitive, input).

SQLite (standard library): one file, transactional — a run killed with kill -9 keeps every batch it
committed and the next run resumes from there — safe for several processes, and fast for the
key-value access that the engine needs. Arrow via ``datasets`` would suit bulk scans, which the engine
never does.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")


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


TABLES = {"outputs": "value BLOB NOT NULL", "documents": "value TEXT NOT NULL"}
"""Both tables are (key TEXT PRIMARY KEY, value): arrays, and JSON documents such as explanations."""


def _warn(message: str) -> None:
    print(f"audit: warning: {message}", file=sys.stderr, flush=True)


class OutputCache:
    """A persistent key → ndarray store (and key → JSON document, for results that are not arrays, such as
    explanations). ``OutputCache(None)`` keeps everything in memory.

    A cache never stops an audit: one that cannot be opened or written (a read-only HOME, a file where the
    folder should be) is replaced by an in-memory one with one warning line; one that is corrupt or of
    another schema is rebuilt empty. Results are the same either way, only slower to recompute.
    """

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        self.path = None if directory is None else Path(directory) / "outputs.sqlite"
        self._conn: sqlite3.Connection
        if self.path is None:
            self._conn = self._connect(":memory:")
            return
        try:
            self._conn = self._open(self.path)
        except (sqlite3.Error, OSError) as exc:
            self._fall_back(exc)

    @staticmethod
    def _connect(where: str | Path) -> sqlite3.Connection:
        conn = sqlite3.connect(where, timeout=60, check_same_thread=False)
        if where != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        for table, value in TABLES.items():
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, {value})")
        conn.commit()
        return conn

    def _open(self, path: Path) -> sqlite3.Connection:
        """Open the cache file; rebuild it when it is not a database or its tables have other columns."""
        if path.parent.exists() and not path.parent.is_dir():
            raise NotADirectoryError(20, "a file, not a folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._connect(path)
            if all([r[1] for r in conn.execute(f"PRAGMA table_info({t})")] == ["key", "value"] for t in TABLES):
                return conn
            conn.close()
            problem = "tables of another schema"
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "not a database" not in str(exc):
                raise  # read-only, locked, cannot open: not ours to delete
            problem = str(exc)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        _warn(f"the cache {path} was unusable ({problem}); rebuilt it empty")
        return self._connect(path)

    def _fall_back(self, exc: BaseException) -> None:
        """Keep going in memory after the cache file failed (at open or mid-run): said once, on one line."""
        reason = getattr(exc, "strerror", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        _warn(f"cannot use the cache {self.path} ({reason}); this run keeps its outputs in memory "
              "(pass --cache-dir for another folder, or --no-cache)")
        conn = getattr(self, "_conn", None)  # unset when the file could not be opened at all
        if conn is not None and self.path is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self.path = None
        self._conn = self._connect(":memory:")

    def _guarded(self, work: Callable[[], T]) -> T:
        try:
            return work()
        except sqlite3.DatabaseError as exc:  # read-only, disk full, corrupt pages: fall back, once
            if self.path is None:
                raise
            self._fall_back(exc)
            return work()

    def get_many(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        keys = list(dict.fromkeys(keys))

        def work() -> dict[str, np.ndarray]:
            found: dict[str, np.ndarray] = {}
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                q = f"SELECT key, value FROM outputs WHERE key IN ({','.join('?' * len(chunk))})"
                for k, v in self._conn.execute(q, chunk):
                    found[k] = _load(v)
            return found

        return self._guarded(work)

    def put_many(self, items: Mapping[str, np.ndarray]) -> None:
        """Store a batch of outputs in one transaction (committed before returning)."""
        rows = [(k, _dump(v)) for k, v in items.items()]

        def work() -> None:
            with self._conn:
                self._conn.executemany("INSERT OR REPLACE INTO outputs (key, value) VALUES (?, ?)", rows)

        self._guarded(work)

    def get_json(self, key: str) -> object | None:
        row = self._guarded(lambda: self._conn.execute("SELECT value FROM documents WHERE key = ?", (key,)).fetchone())
        return None if row is None else json.loads(row[0])

    def put_json(self, key: str, value: object) -> None:
        """Store one JSON document (strict JSON: NaN and infinities are refused, not silently written)."""
        text = json.dumps(value, allow_nan=False, sort_keys=True)

        def work() -> None:
            with self._conn:
                self._conn.execute("INSERT OR REPLACE INTO documents (key, value) VALUES (?, ?)", (key, text))

        self._guarded(work)

    def __len__(self) -> int:
        return int(self._guarded(lambda: self._conn.execute("SELECT COUNT(*) FROM outputs").fetchone()[0]))

    def close(self) -> None:
        self._conn.close()
