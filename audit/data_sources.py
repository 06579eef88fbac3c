"""One loader for every probe parameter that takes the user's data.

A data source is a local CSV/JSONL/JSON/Parquet file, a ``datasets.Dataset``, a pandas DataFrame, or a hub
dataset id (``org/name`` or ``org/name:split``) read from the local datasets cache — never downloaded unless
the hub is on. Whatever the source, the probe gets plain columns (``dict[str, list]``), and a missing column
is one line naming the missing columns and the ones that exist, before any model runs.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from audit.errors import AuditError

FORMATS = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?(:[\w.-]+)?$")

DataSource = Any
"""A path (str or Path), a hub dataset id, a ``datasets.Dataset`` or a ``pandas.DataFrame``."""


def describe(source: DataSource) -> str:
    """A short name for a source, for messages and the report's parameter list; an in-memory table carries a
    hash of its content, so two different tables of the same size never read alike in the results."""
    if isinstance(source, (str, Path)):
        return str(source)
    n = len(source) if hasattr(source, "__len__") else "?"
    digest = _content_hash(source)
    return f"<{type(source).__name__}, {n} rows{', content ' + digest if digest else ''}>"


def _content_hash(source: Any) -> str:
    """12 hex digits of a DataFrame's row hashes (pandas) or a Dataset's own fingerprint; "" for anything else."""
    fingerprint = getattr(source, "_fingerprint", None)
    if isinstance(fingerprint, str):
        return fingerprint[:12]
    try:
        import pandas as pd

        if isinstance(source, pd.DataFrame):
            rows = pd.util.hash_pandas_object(source, index=False).to_numpy()
            names = "\x1f".join(map(str, source.columns)).encode()
            return hashlib.sha256(names + rows.tobytes()).hexdigest()[:12]
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return ""


def is_table(source: DataSource) -> bool:
    """True for what ``load_columns`` reads: a DataFrame, a Dataset, a .csv/.jsonl/.parquet path or a hub id;
    False for other paths (a YAML or JSON document), which their probes read as before."""
    if not isinstance(source, (str, Path)):
        return True
    if Path(source).suffix.lower() in FORMATS:
        return Path(source).suffix.lower() != ".json"
    return isinstance(source, str) and not _looks_like_path(source)


def load_columns(source: DataSource, required: Sequence[str], optional: Sequence[str] = (), *,
                 what: str = "dataset", offline: bool | None = None) -> dict[str, list[Any]]:
    """The ``required`` and present ``optional`` columns of ``source`` as lists; AuditError for a missing file,
    format, column or an empty table."""
    columns, names = _read(source, what, offline)
    missing = [c for c in required if c not in names]
    if missing:
        raise AuditError(f"{what} {describe(source)} has no column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(repr(c) for c in missing)} (its columns: {', '.join(map(str, names)) or 'none'}); "
                         "name the right columns or add them")
    out = {c: list(columns(c)) for c in (*required, *(c for c in optional if c in names))}
    if not out or not next(iter(out.values())):
        raise AuditError(f"{what} {describe(source)} has no rows")
    return out


def _read(source: DataSource, what: str, offline: bool | None) -> tuple[Any, list[str]]:
    """(column getter, column names) for any supported source."""
    import datasets
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return (lambda c: source[c].tolist()), [str(c) for c in source.columns]
    if isinstance(source, datasets.DatasetDict):
        raise AuditError(f"{what} is a DatasetDict with splits {', '.join(source)}; pass one split, e.g. ds['{next(iter(source), 'train')}']")
    if isinstance(source, datasets.Dataset):
        return (lambda c: source[c]), list(source.column_names)
    if isinstance(source, Path) or (isinstance(source, str) and _looks_like_path(source)):
        ds = _read_file(Path(source).expanduser(), what)
    elif isinstance(source, str) and _HUB_ID.match(source):
        ds = _read_hub(source, what, offline)
    else:
        raise AuditError(f"{what} {source!r} is not a file, a hub dataset id, a datasets.Dataset or a pandas DataFrame; "
                         "pass a .csv, .jsonl or .parquet path")
    return (lambda c: ds[c]), list(ds.column_names)


def _looks_like_path(spec: str) -> bool:
    """A file, not a hub id: it exists, has a data extension, starts like a path, or is a bare name with a suffix."""
    return (Path(spec).expanduser().exists() or Path(spec).suffix.lower() in FORMATS or spec.startswith(("/", ".", "~"))
            or ("/" not in spec and "." in spec.partition(":")[0]))


def _read_file(p: Path, what: str) -> Any:
    if not p.is_file():
        raise AuditError(f"{what} not found: {p}; pass an existing .csv, .jsonl or .parquet file")
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise AuditError(f"{what} {p} has an unsupported extension {p.suffix!r}; use one of {', '.join(FORMATS)}")
    if fmt in ("csv", "json") and sum(1 for line in p.read_text(encoding="utf-8", errors="replace").splitlines()
                                      if line.strip()) < (2 if fmt == "csv" else 1):  # datasets' own error is obscure
        raise AuditError(f"{what} {p} has no rows; add rows{' below the header' if fmt == 'csv' else ''}")
    import datasets

    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(fmt, data_files=str(p), split="train", keep_in_memory=True)
    except Exception as exc:  # noqa: BLE001 - datasets raises many types for unreadable files
        raise AuditError(f"could not read {what} {p} as {fmt} ({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__})") from None


@contextlib.contextmanager
def _hub_offline(offline: bool) -> Iterator[None]:
    """datasets reads its offline switch once at import; set it for this call only."""
    import datasets.config as cfg

    before = cfg.HF_HUB_OFFLINE
    cfg.HF_HUB_OFFLINE = offline or before
    try:
        yield
    finally:
        cfg.HF_HUB_OFFLINE = before


def _read_hub(spec: str, what: str, offline: bool | None) -> Any:
    """A hub dataset id, from the local datasets cache when offline (the default unless HF_HUB_OFFLINE=0 is set
    explicitly or ``offline=False``); ``name:split`` picks a split, else ``train``."""
    name, _, split = spec.partition(":")
    if offline is None:
        offline = os.environ.get("HF_HUB_OFFLINE", "1") != "0" and os.environ.get("HF_DATASETS_OFFLINE", "1") != "0"
    import datasets

    datasets.disable_progress_bars()
    try:
        with _hub_offline(offline):
            return datasets.load_dataset(name, split=split or "train")
    except Exception as exc:  # noqa: BLE001 - datasets raises many types for a missing cache, split or network
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        where = ("it is not in the local datasets cache (the hub is off: load it once with datasets.load_dataset "
                 "where the hub is reachable, or set HF_HUB_OFFLINE=0)" if offline else "it could not be loaded")
        raise AuditError(f"{what} {spec!r}: {where} ({first}); or pass a local .csv, .jsonl or .parquet file") from None
