"""The multilingual and low-resource coverage suite: tokenizer coverage, cross-lingual retrieval,
per-language (pseudo-)perplexity and cross-language consistency, weighted by the people who speak
the languages."""
from probes.multilingual import consistency, perplexity, retrieval, tokenizer

__all__ = ["consistency", "perplexity", "retrieval", "tokenizer"]
