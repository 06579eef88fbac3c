"""A run owns its output folder: it writes the whole set into a fresh folder beside ``--out`` and swaps
it in only when every file is written, so a failure (a full disk, a crash, SIGTERM) leaves the previous
set or nothing, and no file of an earlier run survives beside the new ones.

The swap is one ``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere two renames (a crash between them
leaves the new set in the staging folder and the old one beside it, never a mixed set).
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import glob
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from audit.errors import AuditError

LOCK = ".audit.lock"
SET_NAMES = ("results.json", "report.html", "report.md", "data")
"""What a run writes into its folder (data/ holds the per-case files the reports link)."""
MANIFEST = ".audit-set"
"""The names a run put at the top of its folder (its own set, and --junit/--summary written inside it): the
next run replaces the folder only when it holds nothing else, so no file an audit did not write is deleted."""
MIN_FREE_BYTES = 8 << 20
"""Free space needed before a run starts (or the size of the previous set, when larger)."""


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check(out: Path, *, inputs: Iterable[Path] = (), allowed_input: Path | None = None) -> None:
    """Before the model loads: refuse an --out that a run cannot own. ``inputs`` (the model folder, config
    files) may neither contain nor lie inside it; ``allowed_input`` (a baseline that is the previous
    results.json) is read before the swap, so it may."""
    if out.exists() and not out.is_dir():
        raise AuditError(f"--out {out} is a file; pass a folder")
    here, real = Path.cwd().resolve(), out.resolve()
    if _inside(here, real):
        raise AuditError(f"--out {out} is the current folder (or holds it); a run replaces its output folder, so pass a subfolder such as audit-out")
    for item in inputs:
        item = Path(item).resolve()
        if _inside(real, item):
            raise AuditError(f"--out {out} is inside the input {item}; a run must not write into its model or config folder — pass another --out")
        if _inside(item, real) and item != (allowed_input and Path(allowed_input).resolve()):
            raise AuditError(f"{item} is an input but lies inside --out {out}, which this run replaces; move it out of the folder")
    if out.is_dir():
        names = sorted(p.name for p in out.iterdir() if p.name != LOCK)
        ours = {*SET_NAMES, MANIFEST, *_manifest(out)}
        if names and ("results.json" not in names or not set(names) <= ours):
            names = [n for n in names if n not in ours] or names
            raise AuditError(f"--out {out} holds files no audit wrote ({', '.join(names[:3])}{', …' if len(names) > 3 else ''}); "
                             "a run replaces its whole output folder, so pass an empty or new folder")
    ancestor = real
    while not ancestor.exists():
        ancestor = ancestor.parent
    if ancestor.is_dir():
        need = max(MIN_FREE_BYTES, _size(real) if out.is_dir() else 0)
        free = shutil.disk_usage(ancestor).free
        if free < need:
            raise AuditError(f"only {free / 2**20:.1f} MiB free where --out {out} goes (at least {need / 2**20:.0f} MiB needed); "
                             "free some space or pass another --out")


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2); False where the system cannot."""
    libc_name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError, TypeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this filesystem or kernel cannot exchange
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextlib.contextmanager
def owned(out: Path) -> Iterator[Path]:
    """Lock ``out`` (a second audit into it is refused before anything runs), yield an empty staging
    folder beside it, and on success swap the staging folder in and drop the old set and the lock. On any
    failure, SIGTERM included, the staging folder and the lock go and the previous set stays. A symlinked
    --out is followed: the folder it points to is replaced and the link stays."""
    out = out.resolve() if out.is_symlink() else out
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        fh = open(out / LOCK, "w")  # noqa: SIM115 - the `with fh:` below closes it; opened here for the error
    except OSError as exc:
        raise AuditError(f"cannot write to --out {out} ({exc.strerror}); pass a writable folder") from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AuditError(f"another audit is writing to {out}; wait for it or pass a different --out") from None
        for stale in out.parent.glob(f".{glob.escape(out.name)}.new-*"):  # left by a run killed with kill -9
            shutil.rmtree(stale, ignore_errors=True)  # safe: whoever made it wrote into this folder, whose lock we hold
        stage: Path | None = None
        try:
            try:
                stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
            except OSError as exc:
                raise AuditError(f"cannot write beside --out {out} ({exc.strerror}); the folder that holds it must be writable") from None
            mode = 0o777 & ~_umask() if created else out.stat().st_mode & 0o7777
            yield stage
            (stage / MANIFEST).write_text("".join(f"{p.name}\n" for p in sorted(stage.iterdir())), encoding="utf-8")
            try:
                os.chmod(stage, mode)  # mkdtemp makes an owner-only folder
                if not _exchange(stage, out):
                    old = out.with_name(stage.name + ".old")
                    os.replace(out, old)
                    try:
                        os.replace(stage, out)
                    except OSError:
                        os.replace(old, out)
                        raise
                    stage = old
            except OSError as exc:
                raise AuditError(f"cannot put the new output set in place at {out} ({exc.strerror}); the previous set is unchanged") from None
            shutil.rmtree(stage, ignore_errors=True)  # the previous set, with its lock
        except BaseException:
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)
            (out / LOCK).unlink(missing_ok=True)
            if created:
                with contextlib.suppress(OSError):
                    out.rmdir()
            raise


def _manifest(out: Path) -> list[str]:
    try:
        return [line for line in (out / MANIFEST).read_text(encoding="utf-8").splitlines() if line and "/" not in line]
    except (OSError, UnicodeDecodeError):
        return []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
