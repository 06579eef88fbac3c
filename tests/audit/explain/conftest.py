"""Hand-made models whose attributions are known in closed form, wrapped in the real adapters."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from audit.engine import Engine
from audit.results import ModelInfo
from audit.tasks.text_classification import TextClassifier


class LinearOverEmbeddings(torch.nn.Module):
    """logits = Σ_l mask_l · E[x_l] @ W (+ nothing else): IG_l = (E[x_l] − E[x′_l]) · W[:, c] exactly.

    With ``only`` set, it reads the embedding at that one position and ignores every other token.
    """

    def __init__(self, vocab: int, dim: int = 8, labels: int = 2, only: int | None = None, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.emb = torch.nn.Embedding(vocab, dim)
        with torch.no_grad():
            self.emb.weight.copy_(torch.randn(vocab, dim, generator=g))
        self.w = torch.nn.Parameter(torch.randn(dim, labels, generator=g))
        self.only = only
        self.config = SimpleNamespace(problem_type=None, type_vocab_size=0)

    def get_input_embeddings(self) -> torch.nn.Embedding:
        return self.emb

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None):  # type: ignore[no-untyped-def]
        x = self.emb(input_ids) if inputs_embeds is None else inputs_embeds
        if self.only is not None:
            return SimpleNamespace(logits=x[:, self.only] @ self.w)
        m = attention_mask[..., None].to(x.dtype)
        return SimpleNamespace(logits=(x * m).sum(1) @ self.w)


def wrap(module: torch.nn.Module, tokenizer) -> TextClassifier:  # type: ignore[no-untyped-def]
    info = ModelInfo(spec="linear", source="local", path="", task="text-classification", architecture=type(module).__name__,
                     fingerprint="linear", parameters=0, dtype="float32", device="cpu", max_length=32,
                     tokenizer=type(tokenizer).__name__, vocab_size=len(tokenizer), labels=("neg", "pos"))
    engine = Engine(tokenizer, fingerprint=f"linear-{id(module)}", device=torch.device("cpu"), dtype=torch.float32,
                    max_length=32, progress=False)
    return TextClassifier(module.eval(), tokenizer, info, engine)


@pytest.fixture(scope="session")
def minilm_tok():
    from audit.testing import minilm_tokenizer

    return minilm_tokenizer()


@pytest.fixture(scope="session")
def linear_model(minilm_tok):
    return wrap(LinearOverEmbeddings(len(minilm_tok)), minilm_tok)
