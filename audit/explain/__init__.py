"""Explanations with captum: batched, faithful attributions for every task head.

>>> from audit.models import load                                      # doctest: +SKIP
>>> from audit.explain import explain, render_table                    # doctest: +SKIP
>>> print(render_table(explain(load("default"), ["I love this film"])))  # doctest: +SKIP
"""
from audit.explain.explainer import BASELINES, COMPLETENESS_TOL, explain, explain_cases
from audit.explain.methods import METHODS
from audit.explain.render import render_html, render_table
from audit.explain.result import Attribution, Explanation, ExplanationSet

__all__ = ["explain", "explain_cases", "render_table", "render_html", "ExplanationSet", "Explanation", "Attribution",
           "METHODS", "BASELINES", "COMPLETENESS_TOL"]
