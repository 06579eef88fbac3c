"""Probes for question-answering and sequence-to-sequence heads (bias and multilingual suites)."""
from probes.heads import bbq, qa_consistency, summary_names, translation_gender, translation_quality

__all__ = ["bbq", "qa_consistency", "summary_names", "translation_gender", "translation_quality"]
