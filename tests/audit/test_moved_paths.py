"""The import paths that moved when each task head got its own module keep working for one release, with a
DeprecationWarning that names the new home, and give the very same objects."""
from __future__ import annotations

import importlib

import pytest

import audit.heads
import audit.models
from audit import loading, tasks
from audit.tasks import question_answering, seq2seq, zero_shot


@pytest.mark.parametrize("old, name, new", [
    (audit.models, "load", loading),
    (audit.models, "adapt", loading),
    (audit.models, "DEFAULT_SHA256", loading),
    (audit.models, "TASKS", tasks),
    (audit.models, "AuditedModel", tasks.base),
    (audit.models, "TextClassifier", tasks.text_classification),
    (audit.models, "TokenPrediction", tasks.token_classification),
    (audit.models, "ZeroShotClassifier", zero_shot),
    (audit.heads, "QuestionAnswering", question_answering),
    (audit.heads, "Seq2SeqLM", seq2seq),
])
def test_old_path_warns_and_gives_the_same_object(old, name, new):
    with pytest.warns(DeprecationWarning, match=rf"{old.__name__}\.{name} moved to {new.__name__}\.{name}"):
        got = getattr(old, name)
    assert got is getattr(new, name)


def test_from_import_of_an_old_name_warns():
    with pytest.warns(DeprecationWarning, match="audit.models.load moved to audit.loading.load"):
        exec("from audit.models import load", {})


def test_every_old_name_resolves_and_unknown_names_fail():
    for old in (audit.models, audit.heads):
        for name in dir(old):
            with pytest.warns(DeprecationWarning):
                getattr(old, name)
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        audit.models.nothing  # noqa: B018
    with pytest.raises(ImportError):
        exec("from audit.heads import _occurrences", {})


def test_the_table_lists_every_head_once_with_its_own_adapter_and_target():
    """One entry per head, named as its adapter says, adapters and targets distinct; TASKS is the table's order."""
    assert tuple(tasks.HEADS) == tasks.TASKS
    assert all(h.adapter.task == name for name, h in tasks.HEADS.items())
    assert len({h.adapter for h in tasks.HEADS.values()}) == len({h.explanation for h in tasks.HEADS.values()}) == len(tasks.HEADS)
    for name, h in tasks.HEADS.items():
        assert importlib.import_module(h.adapter.__module__) is importlib.import_module(h.explanation.__module__)
        assert not h.serves or name in h.serves


@pytest.mark.parametrize("arch, task", [
    ("BertForSequenceClassification", "text-classification"), ("GPT2LMHeadModel", "text-generation"),
    ("LlamaForCausalLM", "text-generation"), ("BertModel", "feature-extraction"), ("T5ForConditionalGeneration", "text2text-generation"),
    ("BertForQuestionAnswering", "question-answering"), ("RobertaForMaskedLM", "fill-mask"),
    ("BertForTokenClassification", "token-classification"),
])
def test_head_detection_prefers_the_longest_suffix(arch, task):
    assert tasks.head_of({"architectures": [arch]}, False)[:1] == (task,)
