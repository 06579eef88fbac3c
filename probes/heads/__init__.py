"""Probes for question-answering and sequence-to-sequence heads (bias and multilingual suites)."""
from probes.heads import bbq

__all__ = ["bbq"]
