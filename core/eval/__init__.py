"""Evaluation of animation (`python -m core.eval`): on real human speech first (recordings
with transcripts, forced-aligned), then on the corpus's held-out synthetic voices; the
field's metrics, our own (closure, rounding, blinks, eyes in pauses) and the baselines."""
