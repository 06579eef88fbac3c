"""Deprecated: the question-answering and sequence-to-sequence adapters moved to
``audit.tasks.question_answering`` and ``audit.tasks.seq2seq``. The old names keep working for one release,
with a DeprecationWarning that names the new home."""
from __future__ import annotations

from audit._moved import moved_names

_MOVED = {
    **dict.fromkeys(("QuestionAnswering", "QA_WINDOW_CAP", "QA_STRIDE_CAP", "QA_STRATEGIES"), "audit.tasks.question_answering"),
    "Seq2SeqLM": "audit.tasks.seq2seq",
}


__getattr__ = moved_names("audit.heads", _MOVED)


def __dir__() -> list[str]:
    return sorted(_MOVED)
