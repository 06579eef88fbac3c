"""Long-input QA and summarization: a transparent reader and the past-the-limit invariant as oracles."""
import pytest

from audit.loading import load
from audit.tasks.question_answering import QuestionAnswering
from probes.heads.tiny import build
from probes.long_input.heads import FACTS, LongQAProbe, LongSummaryProbe, f1, normalise


@pytest.fixture(scope="module")
def heads_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("long_heads")
    return {k: str(build(k, root / k)) for k in ("bert-qa", "t5", "bart")}


class FirstTokensReader(QuestionAnswering):
    """Answers right exactly when the whole answer lies in the first ``self.reach`` context tokens (truncate),
    or anywhere (window); otherwise it returns the first word of the context."""

    reach = 40

    def answer(self, questions, contexts, *, max_answer_len=30, strategy="window"):
        gold = {q: a for _, q, a in FACTS}
        out = []
        for q, c in zip(questions, contexts):
            a = gold[q]
            at = c.find(a)
            ends = [e for _, e in self.tokenizer(c, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]]
            visible = ends[self.reach - 1] if len(ends) >= self.reach else len(c)
            if at >= 0 and (strategy == "window" or at + len(a) <= visible):
                out.append({"answer": a, "start": at, "end": at + len(a), "score": 1.0, "null_score": 0.0})
            else:
                out.append({"answer": c.split()[0], "start": 0, "end": len(c.split()[0]), "score": 1.0, "null_score": 0.0})
        return out


def test_squad_normalisation_and_f1_by_hand():
    assert normalise("The  Red, granite!") == "red granite"
    assert f1("red granite blocks", "red granite") == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    assert f1("nothing", "red granite") == 0.0


def test_qa_probe_counts_a_transparent_reader(heads_dir):
    real = load(heads_dir["bert-qa"], progress=False, use_cache=False)
    reader = FirstTokensReader(real.model, real.tokenizer, real.info, real.engine)
    result = LongQAProbe(lengths=[32, 128], depths=[0.0, 1.0]).run(reader)
    cells = {(r["strategy"], r["length"], r["depth"]): r["exact_match"] for r in result.tables["exact_match"]}
    # short contexts fit the reach: every answer is found; windows find every answer at every length
    assert cells[("truncate", 32, 0.0)] == cells[("truncate", 32, 1.0)] == 1.0
    assert all(v == 1.0 for (s, _, _), v in cells.items() if s == "window")
    # at 128 tokens a fact at the start is within reach and one at the end is not
    assert cells[("truncate", 128, 0.0)] == 1.0 and cells[("truncate", 128, 1.0)] == 0.0
    drop = result.metric("exact_match_drop", "truncate")
    assert drop.value == pytest.approx(0.5) and result.metric("exact_match_drop", "window").value == 0.0
    assert result.cases and all(c.meta["kind"] == "qa" for c in result.cases)


def test_qa_probe_runs_on_a_real_tiny_model(heads_dir):
    model = load(heads_dir["bert-qa"], progress=False, use_cache=False)
    result = LongQAProbe().run(model)
    assert {m.group for m in result.metrics} == {"truncate", "window"} and result.charts


@pytest.mark.parametrize("kind", ["t5", "bart"])
def test_a_fact_past_the_limit_changes_nothing(heads_dir, kind):
    model = load(heads_dir[kind], progress=False, use_cache=False)
    result = LongSummaryProbe().run(model)
    past = result.metric("max_abs_gain_past_limit")
    assert past.n > 0 and past.value == 0.0
    assert [m.group for m in result.metrics if m.name == "mean_gain"] == [str(n) for n in sorted(int(m.group) for m in result.metrics if m.name == "mean_gain")]
