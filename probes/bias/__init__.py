"""The bias suite: counterfactual identity terms, embedding association tests, stereotype likelihoods,
pronoun–occupation associations, name recall of NER models, and performance per group on labelled data."""
from probes.bias import association, counterfactual, crows_pairs, group_performance, ner_names, pronoun_occupation

__all__ = ["association", "counterfactual", "crows_pairs", "group_performance", "ner_names", "pronoun_occupation"]
