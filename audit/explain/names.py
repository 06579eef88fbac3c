"""The attribution methods by name and their shared defaults, apart from their captum implementations so that
the CLI can list them (and the runner serve cached explanations) without importing torch or captum."""
from __future__ import annotations

METHODS: dict[str, str] = {
    "ig": "Layer Integrated Gradients on the word embeddings (Gauss–Legendre), signed",
    "gxi": "Gradient × Input on the word embeddings, signed",
    "saliency": "Saliency: L1 norm of the gradient at each token's embedding, unsigned",
    "occlusion": "Occlusion: change of the output when a window of tokens is replaced by the baseline, signed",
    "ablation": "Feature ablation: change of the output when one word is replaced by the baseline, signed",
    "shap": "Shapley value sampling over words (baseline-replaced), signed",
    "kernelshap": "KernelSHAP over words (baseline-replaced), signed",
    "lime": "LIME over words (baseline-replaced, Lasso surrogate), signed",
}

COMPLETENESS_TOL = 0.05
"""Default tolerance on |Σ attributions − (F(x) − F(x′))| / |F(x) − F(x′)| before n_steps is raised."""
