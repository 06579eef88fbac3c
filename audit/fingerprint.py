"""What identifies a loaded model for the output cache: a hash of everything that can change an output.

The weight files actually loaded (hashed once, then remembered by path, size and modification time), every
config and tokenizer file of the folder, or for a model in memory its tensors, config and tokenizer
definition; the caller adds the task, labels, adapter settings, dtype, device and limit.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_HASHES: dict[str, str] = {}
HASH_STORE = "weight-hashes.json"


def sha256_cached(path: Path, store_dir: Path | None) -> str:
    """SHA-256 of a weight file, remembered by (resolved path, size, mtime) in this process and in
    ``store_dir``/weight-hashes.json: a re-run hashes nothing unless a file changed (make's rule)."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    if key in _HASHES:
        return _HASHES[key]
    store = store_dir / HASH_STORE if store_dir is not None else None
    known: dict[str, str] = {}
    if store is not None and store.is_file():
        try:
            data = json.loads(store.read_text(encoding="utf-8"))
            known = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            known = {}
    digest = known.get(key)
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        digest = sha256_file(path)
        if store is not None:
            try:
                store.parent.mkdir(parents=True, exist_ok=True)
                tmp = store.with_name(f".{HASH_STORE}.{os.getpid()}")
                tmp.write_text(json.dumps({**known, key: digest}), encoding="utf-8")
                os.replace(tmp, store)
            except OSError:  # a read-only cache only costs a re-hash next time
                pass
    _HASHES[key] = digest
    return digest


def weights_sha256(files: Sequence[Path], store_dir: Path | None) -> str:
    """SHA-256 of the one weight file, or of the concatenated SHA-256s of the shards (in name order)."""
    shas = [sha256_cached(w, store_dir) for w in files]
    return shas[0] if len(shas) == 1 else hashlib.sha256("".join(shas).encode()).hexdigest()


def tensor_digest(model: torch.nn.Module) -> str:
    """SHA-256 over every parameter and buffer (name, dtype, shape, bytes): the fingerprint of weights that
    did not come from files (a model in memory, or one with randomly initialised parts)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def fingerprint(parts: dict[str, Any]) -> str:
    """The cache identity of a loaded model: a hash of everything that can change an output."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def versions() -> dict[str, str]:
    import tokenizers
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__}


def file_digests(path: Path, weights: Sequence[Path]) -> dict[str, str]:
    """SHA-256 of every small file of the folder that can change an output: config.json, generation_config.json,
    the tokenizer files, sentence-transformers module configs (every *.json, *.txt, *.model, *.vocab but READMEs)."""
    skip = {w.absolute() for w in weights}
    out = {}
    for f in sorted(path.rglob("*")):
        if f.suffix in (".json", ".txt", ".model", ".vocab") and f.is_file() and f.absolute() not in skip \
                and not f.name.upper().startswith("README"):
            out[f.relative_to(path).as_posix()] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def tokenizer_identity(tokenizer: Any) -> Any:
    """The fast tokenizer's whole definition (vocabulary, normaliser, pre-tokeniser, post-processor), less the
    truncation and padding state that every call sets."""
    if not getattr(tokenizer, "is_fast", False):
        return repr(tokenizer)
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    spec.pop("truncation", None)
    spec.pop("padding", None)
    return spec
