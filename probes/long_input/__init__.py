"""Long-input degradation suite: where a model stops reading, how answers decay with length and position,
and which long-text remedy keeps them."""
from probes.long_input import encoder, heads, lm, needle  # noqa: F401  (registers long_input.encoder, .qa, .summary, .lm, .needle)
