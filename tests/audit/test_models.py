"""Loading: head detection, primitives against brute-force loops, and refusals with one clear line."""
import json
import shutil

import numpy as np
import pytest
import torch

from audit import testing
from audit.errors import AuditError
from audit.loading import DEFAULT_SHA256, load


@pytest.mark.parametrize(
    "kind,task,caps",
    [
        ("bert-classifier", "text-classification", {"class_probs"}),
        ("distilbert-classifier", "text-classification", {"class_probs"}),
        ("roberta-classifier", "text-classification", {"class_probs"}),
        ("bert-ner", "token-classification", {"token_probs"}),
        ("bert-mlm", "fill-mask", {"mask_fill", "token_scores"}),
        ("roberta-mlm", "fill-mask", {"mask_fill", "token_scores"}),
        ("gpt2", "text-generation", {"token_scores", "next_token"}),
        ("bert-encoder", "feature-extraction", {"embed"}),
        ("sentence-transformer", "feature-extraction", {"embed"}),
    ],
)
def test_head_detection_and_metadata(tiny, kind, task, caps):
    m = tiny(kind)
    assert m.task == task and caps <= m.capabilities
    assert m.info.parameters == sum(p.numel() for p in m.model.parameters())
    assert len(m.info.fingerprint) == 32 and m.info.weights_sha256
    assert m.info.max_length == (32 if kind == "sentence-transformer" else 64)


def test_default_model_is_verified_and_zero_shot(default_model):
    info = default_model.info
    assert info.weights_sha256 == DEFAULT_SHA256 and info.max_length == 256
    assert default_model.labels == ("negative", "positive")
    p = default_model.class_probs(["I absolutely love this, it is wonderful.", "This is awful and I hate it."])
    assert p[0, 1] > 0.9 and p[1, 0] > 0.9
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-6)


def test_pseudo_log_likelihood_equals_brute_force_loop(tiny):
    m = tiny("bert-mlm")
    text = "She works as a nurse."
    got = m.token_scores([text, "He works as an engineer."])[0]
    ids = m.tokenizer(text)["input_ids"]
    expected = []
    with torch.no_grad():
        for p in range(1, len(ids) - 1):
            masked = list(ids)
            masked[p] = m.tokenizer.mask_token_id
            logits = m.model(input_ids=torch.tensor([masked])).logits[0, p]
            expected.append(logits.log_softmax(-1)[ids[p]].item())
    np.testing.assert_allclose(got.logprobs, expected, atol=1e-5)
    assert list(got.ids) == ids[1:-1]


def test_causal_log_likelihood_equals_brute_force_loop(tiny):
    m = tiny("gpt2")
    text = "The quick brown fox jumps."
    got = m.token_scores([text, "a"])[0]
    ids = [m.tokenizer.bos_token_id] + m.tokenizer(text)["input_ids"]
    expected = []
    with torch.no_grad():
        for i in range(1, len(ids)):
            logits = m.model(input_ids=torch.tensor([ids[:i]])).logits[0, -1]
            expected.append(logits.log_softmax(-1)[ids[i]].item())
    np.testing.assert_allclose(got.logprobs, expected, atol=1e-5)
    nxt = m.next_token(["The quick brown fox"], ["jumps"])
    tok = m.tokenizer(" jumps", add_special_tokens=False)["input_ids"][0]
    with torch.no_grad():
        ref = m.model(input_ids=torch.tensor([[m.tokenizer.bos_token_id] + m.tokenizer("The quick brown fox")["input_ids"]])).logits[0, -1]
    assert nxt[0, 0] == pytest.approx(ref.log_softmax(-1)[tok].item(), abs=1e-5)


def test_mask_fill_equals_direct_call(tiny):
    m = tiny("bert-mlm")
    got = m.mask_fill(["[MASK] works as a nurse.", "the [MASK] is here"], ["he", "she", "they"])
    enc = m.tokenizer("[MASK] works as a nurse.", return_tensors="pt")
    with torch.no_grad():
        lp = m.model(**enc).logits[0, 1].log_softmax(-1)
    ids = [m.tokenizer.convert_tokens_to_ids(w) for w in ("he", "she", "they")]
    np.testing.assert_allclose(got[0], lp[ids].numpy(), atol=1e-5)
    with pytest.raises(AuditError, match="no \\[MASK\\]"):
        m.mask_fill(["no mask here"], ["he"])


def test_token_classifier_probabilities_match_direct_call(tiny):
    m = tiny("bert-ner")
    pred = m.token_probs(["Yesterday Maria visited the museum."])[0]
    enc = m.tokenizer("Yesterday Maria visited the museum.", return_tensors="pt")
    with torch.no_grad():
        probs = m.model(**enc).logits[0].softmax(-1).numpy()
    np.testing.assert_allclose(pred.probs, probs[1:-1], atol=1e-5)
    assert pred.tokens[0] == "yesterday" and pred.offsets[0] == (0, 9)


def test_sentence_transformer_folder_matches_library(tiny_path):
    from sentence_transformers import SentenceTransformer

    path = tiny_path("sentence-transformer")
    m = load(str(path), progress=False, use_cache=False)
    texts = ["one short text", "another, slightly longer text with more words " * 5]
    np.testing.assert_allclose(m.embed(texts), SentenceTransformer(str(path), device="cpu").encode(texts), atol=1e-5)
    assert m.normalize and m.pooling == "mean"


# ---- refusals: one line naming the problem and the fix ----------------------------------------

def _err(spec, **kw):
    with pytest.raises(AuditError) as e:
        load(spec, progress=False, use_cache=False, **kw)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_bad_specs(tmp_path, tiny_path):
    assert "does not exist" in _err(str(tmp_path / "missing"))
    assert "--offline" in _err("some-org/some-model", offline=True)
    assert "unknown task" in _err("default", task="summarise")
    assert "does not fit" in _err(str(tiny_path("gpt2")), task="text-classification")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_path("bert-classifier"), broken)
    (broken / "config.json").write_text("{not json")
    assert "not valid JSON" in _err(str(broken))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no config.json" in _err(str(empty))


def test_pickled_weights_refused_unless_allowed(tmp_path, tiny_path):
    from transformers import AutoModelForSequenceClassification

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_path("bert-classifier"), folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    assert "--allow-pickle" in _err(str(folder))
    m = load(str(folder), progress=False, use_cache=False, allow_pickle=True)
    assert m.class_probs(["ok"]).shape == (1, 2)


def test_remote_code_and_escaping_symlinks_refused(tmp_path, tiny_path):
    remote = tmp_path / "remote"
    shutil.copytree(tiny_path("bert-classifier"), remote)
    cfg = json.loads((remote / "config.json").read_text())
    cfg["auto_map"] = {"AutoModel": "evil.EvilModel"}
    (remote / "config.json").write_text(json.dumps(cfg))
    assert "--trust-remote-code" in _err(str(remote))
    linked = tmp_path / "linked"
    shutil.copytree(tiny_path("bert-classifier"), linked)
    (tmp_path / "outside.txt").write_text("secret")
    (linked / "extra.txt").symlink_to(tmp_path / "outside.txt")
    assert "symlink pointing outside" in _err(str(linked))


def test_tampered_default_copy_is_a_local_model_with_its_own_hash(tmp_path):
    folder = testing.copy_default(tmp_path / "copy")
    m = load(str(folder), progress=False, use_cache=False)
    assert m.info.source == "local" and m.info.weights_sha256 == DEFAULT_SHA256 and m.task == "feature-extraction"


def test_device_map_auto_places_the_model_and_gives_the_same_outputs(tiny_path):
    """device_map='auto' (Accelerate) is the path for models larger than one GPU; on a CPU machine it
    must place everything on the CPU and change nothing."""
    path = str(tiny_path("bert-classifier"))
    plain = load(path, progress=False, use_cache=False)
    mapped = load(path, progress=False, use_cache=False, device_map="auto")
    assert mapped.engine.device == mapped.model.get_input_embeddings().weight.device
    np.testing.assert_allclose(mapped.class_probs(["a test", "another one"]), plain.class_probs(["a test", "another one"]), atol=1e-6)
