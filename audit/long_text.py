"""The ways the engine reads a text longer than the model's limit. Kept apart from ``audit.engine`` so that
probes can name them without importing torch (``audit list``, ``audit validate`` and ``audit gate`` load every
probe class and no model)."""
from __future__ import annotations

LONG_TEXT_STRATEGIES = ("truncate", "head", "tail", "head_tail", "window_mean", "window_max")
"""truncate and head keep the start (truncate is what transformers does), tail the end, head_tail the first and
last halves; window_mean / window_max split the text into overlapping windows and average or take the maximum."""
