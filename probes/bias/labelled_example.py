"""The labelled example ``bias.group_performance`` audits when the user passes no data.

Generated, not shipped: the bias lexicon's emotion templates (after the Equity Evaluation Corpus) filled with
the terms of one axis (gender by default) and the EEC's emotion words. The label follows from the emotion word
alone (joy → positive; anger, fear, sadness → negative), so it is known for every row and independent of the
group by construction: any per-group difference in performance is the model's, not the data's.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from probes.bias.lexicon import load_lexicon

SENTIMENT = {"joy": "positive", "anger": "negative", "fear": "negative", "sadness": "negative"}


def example_data(axis: str = "gender", *, seed: int = 0) -> dict[str, list[Any]]:
    """Columns text, label (positive/negative), the axis (group of the person term), emotion and template.

    Per group: every joy frame (template + emotion word) with every term of the group, and as many negative
    (frame, term) pairs, a seeded sample drawn by position so that every group gets the same frames.
    """
    lex = load_lexicon(seed=seed, axes=[axis])
    ax = lex.axes[axis]
    frames = [f for f in lex.frames(ax, ("emotion",)) if dict(f.filler_groups).get("emotion") in SENTIMENT]
    rng = np.random.default_rng(seed)
    cols: dict[str, list[Any]] = {"text": [], "label": [], axis: [], "emotion": [], "template": []}
    n_terms = min(len(g.terms) for g in ax.groups)
    pairs = [(f, t) for f in frames for t in range(n_terms)]
    joy = [p for p in pairs if dict(p[0].filler_groups)["emotion"] == "joy"]
    other = [p for p in pairs if dict(p[0].filler_groups)["emotion"] != "joy"]
    chosen = joy + [other[i] for i in sorted(rng.choice(len(other), size=min(len(joy), len(other)), replace=False))]
    for group in ax.groups:
        for f, t in chosen:
            emotion = dict(f.filler_groups)["emotion"]
            cols["text"].append(f.render(group.terms[t]))
            cols["label"].append(SENTIMENT[emotion])
            cols[axis].append(group.name)
            cols["emotion"].append(emotion)
            cols["template"].append(f.template.text)
    return cols
