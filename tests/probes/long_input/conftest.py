"""A transparent oracle classifier for the long-input tests.

``keyword_model(n)`` is a real ``TextClassifier`` adapter over a real engine whose limit is ``n`` tokens; its
torch module adds +5 to the "positive" logit for every "good" token it is fed and −5 for every "bad". So it
sees exactly what the engine feeds it (the first ``n`` tokens under truncation), and its answer on a haystack
is known in advance: the needle's label when its keyword reaches the model, a 50/50 tie (argmax "negative")
when it does not.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from audit.engine import Engine
from audit.results import ModelInfo
from audit.tasks.text_classification import TextClassifier
from audit.testing import minilm_tokenizer


class KeywordNet(torch.nn.Module):
    def __init__(self, weights: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weights", weights)
        self.config = SimpleNamespace(problem_type=None)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        score = (self.weights[input_ids] * attention_mask).sum(dim=1)
        return SimpleNamespace(logits=torch.stack([-score, score], dim=1))


@pytest.fixture(scope="session")
def keyword_model():
    tok = minilm_tokenizer()

    def make(limit: int) -> TextClassifier:
        weights = torch.zeros(len(tok))
        weights[tok.convert_tokens_to_ids("good")] = 5.0
        weights[tok.convert_tokens_to_ids("bad")] = -5.0
        engine = Engine(tok, fingerprint=f"keyword-{limit}", device=torch.device("cpu"), dtype=torch.float32,
                        max_length=limit, progress=False)
        info = ModelInfo(spec="keyword-oracle", source="local", path="", task="text-classification",
                         architecture="KeywordNet", fingerprint=f"keyword-{limit}", parameters=0, dtype="float32",
                         device="cpu", max_length=limit, tokenizer=type(tok).__name__, vocab_size=len(tok),
                         labels=("negative", "positive"), provenance="max length set by the test oracle")
        return TextClassifier(KeywordNet(weights), tok, info, engine)

    return make
