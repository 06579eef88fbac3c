"""Models as users have them (issue 15): the hub cache offline, the one length limit, a fingerprint that
covers what changes outputs, sharded indexes, missing tensors, regression and unknown heads, tokenizer
against embeddings, and models in memory. Every model here is built by the test."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from audit import fingerprint, testing
from audit.errors import AuditError
from audit.loading import adapt, load

TEXTS = ["a short test sentence", "the weather is lovely today", "numbers like 12345"]


def _err(spec: str, **kw) -> str:
    with pytest.raises(AuditError) as e:
        load(spec, progress=False, use_cache=False, **kw)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    for k, v in changes.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    path.write_text(json.dumps(data))


# ---- 1. the hub cache ---------------------------------------------------------------------------
REV = "0123456789abcdef0123456789abcdef01234567"


def hub_layout(model_dir: Path, cache: Path, repo_id: str = "org/name", rev: str = REV) -> Path:
    """The layout huggingface_hub writes: blobs named by content hash, refs/main holding the commit, and a
    snapshot folder whose files are relative symlinks into ../../blobs. Returns the snapshot folder."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snap = repo / "snapshots" / rev
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(rev)
    for f in sorted(model_dir.rglob("*")):
        if not f.is_file():
            continue
        data = f.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snap / f.relative_to(model_dir)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snap


@pytest.fixture()
def hub_cache(tmp_path, tiny_path, monkeypatch):
    cache = tmp_path / "hub"
    snap = hub_layout(tiny_path("bert-classifier"), cache)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache, snap


def test_hub_id_loads_offline_from_the_cache_with_its_revision(hub_cache, tiny_path):
    _, snap = hub_cache
    assert all(f.is_symlink() for f in snap.iterdir())
    original = load(str(tiny_path("bert-classifier")), progress=False, use_cache=False)
    by_id = load("org/name", progress=False, use_cache=False)
    by_folder = load(str(snap), progress=False, use_cache=False)
    assert by_id.info.source == "hub" and by_id.info.revision == REV and Path(by_id.info.path) == snap
    assert by_folder.info.source == "local" and by_folder.info.revision == REV
    # the same bytes: the same weights hash, the same fingerprint, the same outputs as the folder they came from
    assert by_id.info.weights_sha256 == by_folder.info.weights_sha256 == original.info.weights_sha256
    assert by_id.info.fingerprint == by_folder.info.fingerprint == original.info.fingerprint
    np.testing.assert_allclose(by_id.class_probs(TEXTS), original.class_probs(TEXTS), atol=1e-6)


def test_hub_id_at_a_named_revision_and_a_missing_one(hub_cache):
    assert load("org/name", revision=REV, progress=False, use_cache=False).info.revision == REV
    msg = _err("org/other")
    assert "not in the hub cache" in msg and "HF_HUB_CACHE" in msg and "--offline" in msg
    assert "not in the hub cache" in _err("org/name", revision="main2")
    assert "is a local folder at revision" in _err(str(hub_cache[1]), revision="other")


def test_hub_cache_dir_follows_hf_home(tmp_path, tiny_path, monkeypatch):
    hub_layout(tiny_path("bert-classifier"), tmp_path / "home" / "hub")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert load("org/name", offline=True, progress=False, use_cache=False).info.revision == REV


def test_cached_sentence_transformer_keeps_its_modules(tmp_path, tiny_path, monkeypatch):
    """Nested files (1_Pooling/config.json) are symlinks into ../../../blobs; pooling and max_seq_length are read."""
    hub_layout(tiny_path("sentence-transformer"), tmp_path / "hub", "org/encoder")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    m = load("org/encoder", offline=True, progress=False, use_cache=False)
    ref = load(str(tiny_path("sentence-transformer")), progress=False, use_cache=False)
    assert (m.task, m.pooling, m.normalize, m.max_length) == (ref.task, ref.pooling, ref.normalize, ref.max_length)
    np.testing.assert_allclose(m.embed(TEXTS), ref.embed(TEXTS), atol=1e-6)


def test_symlink_leaving_the_repo_cache_folder_is_refused(hub_cache, tmp_path):
    cache, snap = hub_cache
    other = hub_layout(testing.build("bert-encoder", tmp_path / "enc"), cache, "org/other")
    (snap / "tokenizer.json").unlink()
    (snap / "tokenizer.json").symlink_to(other / "tokenizer.json")  # into another model's cache folder
    assert "symlink pointing outside the hub cache folder" in _err("org/name")
    assert "symlink pointing outside" in _err(str(snap))


def test_cli_audits_a_cached_hub_id_offline(hub_cache, tmp_path):
    from audit.cli import main

    out = tmp_path / "out"
    code = main(["run", "org/name", "--offline", "--probe", "robustness.perturbation", "--max-cases", "4", "--no-explain",
                 "--no-cache", "--quiet", "--out", str(out)])
    assert code in (0, 1, 4)  # 4: too few cases to decide a gate
    model = json.loads((out / "results.json").read_text())["model"]
    assert model["source"] == "hub" and model["revision"] == REV


# ---- 2. one length limit ----------------------------------------------------------------------------
def _long_tokenizer(folder: Path, n: int = 512) -> Path:
    _edit_json(folder / "tokenizer_config.json", model_max_length=n)
    return folder


@pytest.mark.parametrize("kind, table", [("bert-classifier", "max_position_embeddings 64"),
                                         ("roberta-mlm", "max_position_embeddings 66 minus the 2 positions roberta"),
                                         ("gpt2", "n_positions 64")])
def test_limit_is_the_position_table_when_the_tokenizer_claims_more(tmp_path, kind, table):
    folder = _long_tokenizer(testing.build(kind, tmp_path / kind, max_length=64))
    m = load(str(folder), progress=False, use_cache=False)
    assert m.max_length == m.engine.max_length == m.info.max_length == 64
    assert m.info.limits == {"position table": 64, "tokenizer": 512}
    assert f"max length 64 from the position table (config.json {table}" in m.info.provenance
    ids = m.engine.encode(["word " * 600])[0]
    assert len(ids) == 64


def test_limit_user_and_sentence_transformers_values(tmp_path, tiny_path):
    m = load(str(tiny_path("bert-classifier")), max_length=16, progress=False, use_cache=False)
    assert m.max_length == 16 and m.info.limits["user"] == 16 and "the max_length you passed" in m.info.provenance
    st = load(str(tiny_path("sentence-transformer")), progress=False, use_cache=False)
    assert st.max_length == 32 and "sentence_bert_config.json max_seq_length 32" in st.info.provenance
    assert "must be a whole number" in _err(str(tiny_path("bert-classifier")), max_length=1)


@pytest.mark.parametrize("kind", ["bert-classifier", "bert-qa", "gpt2"])
def test_short_position_table_with_a_512_tokenizer_audited_by_every_suite(tmp_path, kind):
    """A distilled model saved with its teacher's tokenizer: every suite that applies runs without an internal
    error and the results say 64, from the position table."""
    import audit
    from probes.heads import tiny as heads_tiny

    build = heads_tiny.build if kind in heads_tiny.KINDS else testing.build
    folder = _long_tokenizer(build(kind, tmp_path / kind, max_length=64))
    result = audit.run(str(folder), max_cases=4, use_cache=False, progress=False, explain=True, max_explanations=2)
    ran = [p for p in result.probes if p.status != "skipped"]
    assert ran and all(p.status == "ok" for p in ran), [(p.probe, p.headline) for p in ran if p.status != "ok"]
    assert "long-input" in {p.suite for p in ran}
    assert result.model.max_length == 64 and result.model.limits == {"position table": 64, "tokenizer": 512}
    # an internal error (e.g. "the expanded size of the tensor (512) must match ... (64)") would have propagated


# ---- 3. the fingerprint ---------------------------------------------------------------------------------
def test_changed_config_misses_the_cache(tmp_path, tiny_path):
    """Embeddings (not the near-uniform probabilities of a random classifier) so that the change is visible."""
    folder = _copy(tiny_path("bert-classifier"), tmp_path / "m")
    cache = tmp_path / "cache"
    kw = {"task": "feature-extraction", "progress": False}
    before = load(str(folder), cache_dir=cache, **kw)
    v_before = before.embed(TEXTS)
    _edit_json(folder / "config.json", layer_norm_eps=0.5)
    after = load(str(folder), cache_dir=cache, **kw)
    fresh = load(str(folder), use_cache=False, **kw)
    assert after.info.fingerprint != before.info.fingerprint
    v_after = after.embed(TEXTS)
    np.testing.assert_allclose(v_after, fresh.embed(TEXTS), atol=1e-5)  # the changed model's outputs ...
    assert np.abs(v_after - v_before).max() > 1e-2  # ... not the cached outputs of the old one


def test_fingerprint_covers_tokenizer_generation_task_labels_adapter_dtype(tmp_path, tiny_path):
    folder = _copy(tiny_path("bert-classifier"), tmp_path / "m")

    def fp(**kw) -> str:
        return load(str(folder), progress=False, use_cache=False, **kw).info.fingerprint

    base = fp()
    assert fp() == base  # deterministic
    seen = {base, fp(task="feature-extraction"), fp(task="zero-shot-classification"),
            fp(task="zero-shot-classification", labels={"a": ["good"], "b": ["bad"]}), fp(dtype="bf16")}
    _edit_json(folder / "tokenizer_config.json", model_max_length=48)
    seen.add(fp())
    (folder / "generation_config.json").write_text(json.dumps({"temperature": 0.5}))
    seen.add(fp())
    _edit_json(folder / "config.json", id2label={"0": "neg", "1": "pos"}, label2id={"neg": 0, "pos": 1})
    seen.add(fp())
    assert len(seen) == 8
    st = _copy(tiny_path("sentence-transformer"), tmp_path / "st")
    a = load(str(st), progress=False, use_cache=False).info.fingerprint
    _edit_json(st / "1_Pooling" / "config.json", pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    assert load(str(st), progress=False, use_cache=False).info.fingerprint != a


def test_weights_are_hashed_once_and_reused(tmp_path, tiny_path, monkeypatch):
    folder = _copy(tiny_path("bert-classifier"), tmp_path / "m")
    store = tmp_path / "cache"
    first = load(str(folder), cache_dir=store, progress=False)
    assert json.loads((store / fingerprint.HASH_STORE).read_text())  # remembered on disk
    fingerprint._HASHES.clear()  # a new process: only the disk store is left

    def no_hash(path):
        raise AssertionError(f"{path} hashed again")

    monkeypatch.setattr(fingerprint, "sha256_file", no_hash)
    again = load(str(folder), cache_dir=store, progress=False)
    assert again.info.weights_sha256 == first.info.weights_sha256
    monkeypatch.undo()
    os.utime(folder / "model.safetensors", ns=(1, 1))  # a touched file is hashed again
    assert fingerprint.sha256_cached(folder / "model.safetensors", store) == hashlib.sha256(
        (folder / "model.safetensors").read_bytes()).hexdigest()


# ---- 4. sharded checkpoints --------------------------------------------------------------------------
def _sharded(tiny_path, dst: Path) -> Path:
    from transformers import AutoModelForSequenceClassification

    folder = _copy(tiny_path("bert-classifier"), dst)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    (folder / "model.safetensors").unlink()
    model.save_pretrained(folder, max_shard_size="100KB")
    assert (folder / "model.safetensors.index.json").is_file()
    return folder


def test_sharded_weights_hash_exactly_the_loaded_shards(tmp_path, tiny_path):
    folder = _sharded(tiny_path, tmp_path / "sharded")
    shards = sorted(set(json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"].values()))
    assert len(shards) > 1
    (folder / "unused-copy.safetensors").write_bytes((folder / shards[0]).read_bytes())  # never loaded
    m = load(str(folder), progress=False, use_cache=False)
    expected = hashlib.sha256("".join(hashlib.sha256((folder / s).read_bytes()).hexdigest() for s in shards).encode()).hexdigest()
    assert m.info.weights_sha256 == expected
    ref = load(str(tiny_path("bert-classifier")), progress=False, use_cache=False)
    np.testing.assert_allclose(m.class_probs(TEXTS), ref.class_probs(TEXTS), atol=1e-6)


def test_index_pointing_outside_the_folder_is_refused(tmp_path, tiny_path):
    folder = _sharded(tiny_path, tmp_path / "models" / "sharded")
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    victim = sorted(set(index["weight_map"].values()))[0]
    (tmp_path / "outside").mkdir()
    shutil.move(folder / victim, tmp_path / "outside" / "x.safetensors")
    index["weight_map"] = {k: ("../../outside/x.safetensors" if v == victim else v) for k, v in index["weight_map"].items()}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    msg = _err(str(folder))
    assert "outside the model folder" in msg and "../../outside/x.safetensors" in msg


# ---- 5. missing and unexpected tensors ------------------------------------------------------------------
def _drop_tensors(folder: Path, prefix: str) -> list[str]:
    from safetensors.torch import load_file, save_file

    weights = load_file(folder / "model.safetensors")
    dropped = sorted(k for k in weights if k.startswith(prefix))
    save_file({k: v for k, v in weights.items() if k not in dropped}, folder / "model.safetensors", metadata={"format": "pt"})
    return dropped


def test_missing_tensors_refused_unless_allowed_then_said_at_the_top(tmp_path, tiny_path):
    import audit

    folder = _copy(tiny_path("bert-classifier"), tmp_path / "m")
    dropped = _drop_tensors(folder, "classifier.")
    assert dropped == ["classifier.bias", "classifier.weight"]
    msg = _err(str(folder))
    assert "missing: classifier.bias, classifier.weight" in msg and "--allow-missing-weights" in msg
    result = audit.run(str(folder), allow_missing_weights=True, probes=["robustness.perturbation"], max_cases=4,
                       use_cache=False, progress=False, explain=False)
    assert result.model.missing_weights == ("classifier.bias", "classifier.weight")
    assert result.model.warnings and "randomly initialised" in result.model.warnings[0]
    saved = result.to_dict()["model"]
    assert saved["missing_weights"] == ["classifier.bias", "classifier.weight"]
    from audit.results import AuditResult

    assert AuditResult.from_dict(json.loads(result.to_json())).model == result.model
    from reports.html import render_html

    html = render_html(result)
    assert "randomly initialised" in html
    assert html.index("randomly initialised") < html.index("robustness.perturbation")
    assert "missing: classifier.bias, classifier.weight; unexpected: none" in html
    from reports.markdown import render_markdown

    card = render_markdown(result)
    body = card[card.index("# Audit:"):]  # after the YAML front matter
    assert body.index("> **Warning:** weights do not match") < body.index("robustness.perturbation")


def test_unexpected_tensors_refused(tmp_path, tiny_path):
    from safetensors.torch import load_file, save_file

    folder = _copy(tiny_path("bert-classifier"), tmp_path / "m")
    weights = load_file(folder / "model.safetensors")
    weights["bert.extra_layer.weight"] = torch.zeros(3)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    assert "unexpected: bert.extra_layer.weight" in _err(str(folder))


def test_encoder_of_a_classifier_is_not_a_missing_weights_case(tiny_path):
    m = load(str(tiny_path("bert-classifier")), task="feature-extraction", progress=False, use_cache=False)
    assert m.info.missing_weights == () and m.info.unexpected_weights == () and m.info.warnings == ()


# ---- 6. regression heads ------------------------------------------------------------------------------
def test_regression_head_is_refused_with_the_reason(tmp_path):
    folder = testing.build("bert-classifier", tmp_path / "reg", num_labels=1)
    msg = _err(str(folder))
    assert "regression head" in msg and "pass by construction" in msg and "--task feature-extraction" in msg
    two = testing.build("bert-classifier", tmp_path / "reg2", num_labels=2)
    _edit_json(two / "config.json", problem_type="regression")
    assert "regression head" in _err(str(two))
    enc = load(str(folder), task="feature-extraction", progress=False, use_cache=False)
    assert enc.embed(TEXTS).shape == (3, 32)
    one = testing.build("bert-classifier", tmp_path / "one", num_labels=1)  # one sigmoid output: a real probability
    _edit_json(one / "config.json", problem_type="multi_label_classification")
    m = load(str(one), progress=False, use_cache=False)
    logits = m.logits(TEXTS)[:, 0]
    np.testing.assert_allclose(m.class_probs(TEXTS)[:, 0], 1 / (1 + np.exp(-logits)), atol=1e-6)


# ---- 7. unknown or empty architectures -------------------------------------------------------------------
@pytest.mark.parametrize("archs", [None, [], ["BertForSomethingNew"]])
def test_guessed_head_is_said(tmp_path, tiny_path, capsys, archs):
    folder = _copy(tiny_path("bert-classifier"), tmp_path / "m")
    _edit_json(folder / "config.json", architectures=archs)
    m = load(str(folder), use_cache=False, progress=True)
    assert m.task == "feature-extraction"
    assert "--task" in m.info.head and "bare encoder" in m.info.head
    assert m.info.warnings == (f"head: {m.info.head}",)
    assert f"[audit] warning: head: {m.info.head}" in capsys.readouterr().err
    assert "classifier.bias, classifier.weight" in m.info.head  # the head it leaves unused
    known = load(str(tiny_path("bert-classifier")), progress=False, use_cache=False)
    assert known.info.head == "text-classification from the architecture BertForSequenceClassification"
    asked = load(str(folder), task="text-classification", progress=False, use_cache=False)  # the suggested fix
    assert asked.info.head.startswith("text-classification, as --task asked") and asked.info.warnings == ()
    np.testing.assert_allclose(asked.class_probs(TEXTS), known.class_probs(TEXTS), atol=1e-6)


# ---- 8. tokenizer larger than the embedding matrix -----------------------------------------------------------
def test_tokenizer_larger_than_embeddings_is_one_line(tmp_path):
    import transformers as tr

    tok = testing.minilm_tokenizer()
    model = tr.BertModel(tr.BertConfig(vocab_size=1000, max_position_embeddings=64, **testing.SMALL))
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    msg = _err(str(tmp_path / "m"))
    assert "30,522 tokens" in msg and "1,000 rows" in msg


def test_tokenizer_larger_than_embeddings_exits_2_from_the_cli(tmp_path, capsys):
    import transformers as tr

    from audit.cli import main

    tok = testing.minilm_tokenizer()
    tr.BertModel(tr.BertConfig(vocab_size=1000, max_position_embeddings=64, **testing.SMALL)).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    assert main(["run", str(tmp_path / "m"), "--no-cache", "--quiet", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1,000 rows" in err[0]
    assert not (tmp_path / "out" / "results.json").exists()


# ---- 9. models in memory --------------------------------------------------------------------------
def test_pretrained_model_and_pipeline_in_memory(tiny_path):
    import transformers as tr

    import audit

    folder = tiny_path("bert-classifier")
    ref = load(str(folder), progress=False, use_cache=False)
    model = tr.AutoModelForSequenceClassification.from_pretrained(folder)
    tok = tr.AutoTokenizer.from_pretrained(folder)
    m = adapt(model, tokenizer=tok, progress=False, use_cache=False)
    assert type(m) is type(ref) and m.task == "text-classification" and m.info.source == "memory"
    np.testing.assert_allclose(m.class_probs(TEXTS), ref.class_probs(TEXTS), atol=1e-6)
    assert adapt(model, tokenizer=tok, progress=False, use_cache=False).info.fingerprint == m.info.fingerprint
    with torch.no_grad():
        model.classifier.bias += 1.0
    assert adapt(model, tokenizer=tok, progress=False, use_cache=False).info.fingerprint != m.info.fingerprint

    pipe = tr.pipeline("text-classification", model=str(folder), tokenizer=str(folder))
    result = audit.run(pipe, probes=["robustness.perturbation"], max_cases=4, use_cache=False, progress=False, explain=False)
    assert result.model.source == "memory" and result.model.task == "text-classification"
    assert result.probe("robustness.perturbation").status == "ok"
    via = audit.load(pipe, progress=False, use_cache=False)
    np.testing.assert_allclose(via.class_probs(TEXTS), ref.class_probs(TEXTS), atol=1e-6)


def test_sentence_transformer_in_memory(tiny_path):
    from sentence_transformers import SentenceTransformer

    folder = tiny_path("sentence-transformer")
    st = SentenceTransformer(str(folder), device="cpu")
    m = adapt(st, progress=False, use_cache=False)
    ref = load(str(folder), progress=False, use_cache=False)
    assert m.task == "feature-extraction" and m.max_length == ref.max_length == 32
    assert (m.pooling, m.normalize) == (ref.pooling, ref.normalize)
    np.testing.assert_allclose(m.embed(TEXTS), st.encode(TEXTS), atol=1e-5)
    np.testing.assert_allclose(m.embed(TEXTS), ref.embed(TEXTS), atol=1e-5)


def test_in_memory_errors(tiny_path):
    import transformers as tr

    model = tr.AutoModelForSequenceClassification.from_pretrained(tiny_path("bert-classifier"))
    with pytest.raises(AuditError, match="needs its tokenizer"):
        adapt(model, progress=False, use_cache=False)
    with pytest.raises(AuditError, match="the tokenizer of the BertForSequenceClassification is a str"):
        adapt(model, tokenizer="bert", progress=False, use_cache=False)
    with pytest.raises(AuditError, match="cannot audit a dict"):
        adapt({"not": "a model"}, progress=False, use_cache=False)
