"""Probe suites for transformer-audit: bias, multilingual coverage, long-input degradation."""
from probes.base import Probe, get_probe, register_probe, registry, resolve, suites

__all__ = ["Probe", "get_probe", "register_probe", "registry", "resolve", "suites"]
