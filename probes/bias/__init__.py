"""The bias suite: counterfactual identity terms, embedding association tests, stereotype likelihoods,
pronoun–occupation associations and name recall of NER models."""
from probes.bias import association, counterfactual, crows_pairs, ner_names, pronoun_occupation

__all__ = ["association", "counterfactual", "crows_pairs", "ner_names", "pronoun_occupation"]
