"""Evaluation of animation against the corpus's held-out voices and sentences
(`python -m core.eval`): the field's metrics and the baselines they are compared with."""
