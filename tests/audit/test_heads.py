"""QA and seq2seq adapters against brute-force oracles: direct model calls, token-by-token loops."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from audit.errors import AuditError

CONTEXT = "The museum opens at nine on weekdays. She works as a nurse and he works as an engineer."
LONG_CONTEXT = " ".join(["They visited the museum yesterday with their friends."] * 6
                        + ["The quick brown fox jumps over the lazy dog."] * 6)


@pytest.fixture(scope="module")
def heads(tmp_path_factory):
    from audit.loading import load
    from probes.heads.tiny import build

    root = tmp_path_factory.mktemp("heads")
    loaded = {}

    def get(kind: str):
        if kind not in loaded:
            loaded[kind] = load(str(build(kind, root / kind)), progress=False, use_cache=False)
        return loaded[kind]

    return get


def brute_force_best(model, enc, max_answer_len: int):
    """Best span of one encoded window by a double loop over context tokens (pipeline scoring)."""
    with torch.inference_mode():
        out = model.model(**{k: torch.tensor([v]) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")})
    start, end = out.start_logits[0].double().numpy(), out.end_logits[0].double().numpy()
    seq = enc.sequence_ids() if hasattr(enc, "sequence_ids") else enc["seq"]
    allowed = [p for p, s in enumerate(seq) if s == 1]
    cls = [p for p, t in enumerate(enc["input_ids"]) if t == model.tokenizer.cls_token_id]
    norm = allowed + cls[:1]
    ps = np.exp(start[norm]) / np.exp(start[norm]).sum()
    pe = np.exp(end[norm]) / np.exp(end[norm]).sum()
    pstart, pend = dict(zip(norm, ps)), dict(zip(norm, pe))
    best = (-1.0, None, None)
    for i in allowed:
        for j in allowed:
            if i <= j < i + max_answer_len and pstart[i] * pend[j] > best[0]:
                best = (pstart[i] * pend[j], i, j)
    null = pstart[cls[0]] * pend[cls[0]] if cls else 0.0
    return best, null, pstart, pend


@pytest.mark.parametrize("kind", ["bert-qa", "roberta-qa"])
def test_single_window_matches_a_direct_model_call(heads, kind):
    m = heads(kind)
    questions = ["Where does she work?", "When does the museum open?"]
    for q, got in zip(questions, m.answer(questions, [CONTEXT, CONTEXT], max_answer_len=5)):
        enc = m.tokenizer(q, CONTEXT, return_offsets_mapping=True)
        assert len(enc["input_ids"]) <= m.window  # it fits: one window
        (score, i, j), null, _, _ = brute_force_best(m, enc, 5)
        offs = enc["offset_mapping"]
        assert (got["start"], got["end"]) == (offs[i][0], offs[j][1])
        assert got["answer"] == CONTEXT[offs[i][0] : offs[j][1]]
        assert got["score"] == pytest.approx(score, rel=1e-4)
        assert got["null_score"] == pytest.approx(null, rel=1e-4)
    assert m.uses_token_types == (kind == "bert-qa")


@pytest.mark.parametrize("kind", ["bert-qa", "roberta-qa"])
def test_long_context_best_span_over_pipeline_windows(heads, kind):
    m = heads(kind)
    q = "What jumps over the dog?"
    window = min(m.max_length, 384)
    stride = min(window // 2, 128)
    enc = m.tokenizer(q, LONG_CONTEXT, truncation="only_second", max_length=window, stride=stride,
                      return_overflowing_tokens=True, return_offsets_mapping=True)
    assert len(enc["input_ids"]) >= 4  # really windowed
    best = (-1.0, None)
    for w in range(len(enc["input_ids"])):
        one = {k: enc[k][w] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
        one["seq"] = enc.sequence_ids(w)
        (score, i, j), _, _, _ = brute_force_best(m, one, 30)
        if score > best[0]:
            best = (score, (enc["offset_mapping"][w][i][0], enc["offset_mapping"][w][j][1]))
    got = m.answer([q], [LONG_CONTEXT])[0]
    assert (got["start"], got["end"]) == best[1]
    assert got["score"] == pytest.approx(best[0], rel=1e-4)
    assert got["answer"] == LONG_CONTEXT[got["start"] : got["end"]]


def test_truncate_strategy_is_the_first_window(heads):
    m = heads("bert-qa")
    q = "Who visited the museum?"
    enc = m.tokenizer(q, LONG_CONTEXT, truncation="only_second", max_length=m.window, return_offsets_mapping=True)
    (score, i, j), _, _, _ = brute_force_best(m, enc, 30)
    got = m.answer([q], [LONG_CONTEXT], strategy="truncate")[0]
    assert (got["start"], got["end"]) == (enc["offset_mapping"][i][0], enc["offset_mapping"][j][1])
    assert got["score"] == pytest.approx(score, rel=1e-4)
    late = m.span_scores([q], [LONG_CONTEXT], [["dog"]], strategy="truncate")[0, 0]  # "dog" only after the cut
    assert late == -np.inf and np.isfinite(m.span_scores([q], [LONG_CONTEXT], [["dog"]])[0, 0])
    with pytest.raises(AuditError, match="unknown QA long-context strategy"):
        m.answer([q], [LONG_CONTEXT], strategy="head")


def test_span_scores_match_direct_probabilities(heads):
    m = heads("bert-qa")
    q = "Who works as a nurse?"
    enc = m.tokenizer(q, CONTEXT, return_offsets_mapping=True)
    _, null, pstart, pend = brute_force_best(m, enc, 30)
    offs, seq = enc["offset_mapping"], enc.sequence_ids()
    got = m.span_scores([q], [CONTEXT], [["She", "an engineer", ""]])[0]
    for cand, value in zip(["She", "an engineer"], got):
        cs = CONTEXT.index(cand)
        toks = [p for p, s in enumerate(seq) if s == 1 and offs[p][1] > cs and offs[p][0] < cs + len(cand)]
        assert value == pytest.approx(np.log(pstart[toks[0]] * pend[toks[-1]]), rel=1e-5)
    assert got[2] == pytest.approx(np.log(null), rel=1e-5)
    # the best span's own score agrees between answer() and span_scores()
    best = m.answer([q], [CONTEXT])[0]
    again = m.span_scores([q], [CONTEXT], [[best["answer"]]])[0, 0]
    assert again >= np.log(best["score"]) - 1e-6


def test_qa_bad_inputs(heads):
    m = heads("bert-qa")
    with pytest.raises(AuditError, match="questions\\[0\\] is empty"):
        m.answer([" "], [CONTEXT])
    with pytest.raises(AuditError, match="one context per question"):
        m.answer(["Who?", "What?"], [CONTEXT])
    with pytest.raises(AuditError, match="no room for the context"):
        m.answer(["why " * 80], [CONTEXT])
    with pytest.raises(AuditError, match="does not occur"):
        m.span_scores(["Who?"], [CONTEXT], [["a pilot"]])
    with pytest.raises(AuditError, match="max_answer_len"):
        m.answer(["Who?"], [CONTEXT], max_answer_len=0)


SOURCES = ["The quick brown fox jumps over the lazy dog.", "She works as a nurse.", "Numbers like 12345 appear in documents."]
TARGETS = ["Die Katze schläft auf dem Sofa.", "El perro come.", "Der Hund."]


def brute_force_target_logprobs(m, source: str, target_ids: list[int]) -> list[float]:
    src = torch.tensor([m.tokenizer(source)["input_ids"]])
    prefix = [m.decoder_start_id]
    out = []
    with torch.inference_mode():
        for t in target_ids:
            logits = m.model(input_ids=src, decoder_input_ids=torch.tensor([prefix])).logits[0, -1].double()
            out.append(float(logits.log_softmax(-1)[t]))
            prefix.append(t)
    return out


@pytest.mark.parametrize("kind", ["bart", "t5"])
def test_target_scores_equal_a_token_by_token_loop(heads, kind):
    m = heads(kind)
    got = m.target_scores(SOURCES, TARGETS)
    for s, t, g in zip(SOURCES, TARGETS, got):
        ids = m.tokenizer(text_target=t)["input_ids"]
        assert list(g.ids) == ids and ids[-1] == m.tokenizer.eos_token_id
        np.testing.assert_allclose(g.logprobs, brute_force_target_logprobs(m, s, ids), atol=1e-4)
        assert g.total == pytest.approx(sum(g.logprobs))


def greedy_loop(m, source: str, max_new: int) -> list[int]:
    src = torch.tensor([m.tokenizer(source)["input_ids"]])
    prefix = [m.decoder_start_id]
    with torch.inference_mode():
        for _ in range(max_new):
            nxt = int(m.model(input_ids=src, decoder_input_ids=torch.tensor([prefix])).logits[0, -1].argmax())
            prefix.append(nxt)
            if nxt == m.tokenizer.eos_token_id:
                break
    return prefix[1:]


@pytest.mark.parametrize("kind", ["bart", "t5"])
def test_batched_generation_matches_single_decoding(heads, kind):
    m = heads(kind)
    greedy = m.generate(SOURCES, max_new_tokens=6)
    for s, g in zip(SOURCES, greedy):
        assert g == m.tokenizer.decode(greedy_loop(m, s, 6), skip_special_tokens=True).strip()
    beams = m.generate(SOURCES, num_beams=3, max_new_tokens=6)
    for s, g in zip(SOURCES, beams):
        with torch.inference_mode():
            ref = m.model.generate(input_ids=torch.tensor([m.tokenizer(s)["input_ids"]]), num_beams=3, max_new_tokens=6,
                                   do_sample=False, decoder_start_token_id=m.decoder_start_id)
        assert ref.shape[1] <= 1 + 6  # the decoder start token and at most max_new_tokens
        assert g == m.tokenizer.decode(ref[0], skip_special_tokens=True).strip()


def test_seq2seq_outputs_come_from_the_cache_the_second_time(tmp_path):
    from audit.loading import load
    from probes.heads.tiny import build

    m = load(str(build("t5", tmp_path / "t5")), progress=False, cache_dir=str(tmp_path / "cache"))
    first = (m.target_scores(SOURCES, TARGETS), m.generate(SOURCES, max_new_tokens=4))
    calls = m.engine.stats.forward_calls
    second = (m.target_scores(SOURCES, TARGETS), m.generate(SOURCES, max_new_tokens=4))
    assert m.engine.stats.forward_calls == calls
    assert second[1] == first[1]
    for a, b in zip(first[0], second[0]):
        np.testing.assert_array_equal(a.logprobs, b.logprobs)


def test_seq2seq_bad_inputs(heads):
    m = heads("t5")
    with pytest.raises(AuditError, match="sources\\[1\\] is empty"):
        m.target_scores(["a dog", ""], ["x", "y"])
    with pytest.raises(AuditError, match="one target per source"):
        m.target_scores(["a dog"], ["x", "y"])
    with pytest.raises(AuditError, match="longer than the model's limit"):
        m.target_scores(["a dog"], ["dog " * 200])
    with pytest.raises(AuditError, match="num_beams"):
        m.generate(["a dog"], num_beams=0)
    with pytest.raises(AuditError, match="over the model's length limit"):
        m.generate(["a dog"], max_new_tokens=m.max_length + 1)
    with pytest.raises(AuditError, match="not one string"):
        m.generate("a dog")
