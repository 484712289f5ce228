"""A tiny real corpus configuration (fast espeak voices) for the corpus, training and
evaluation tests."""

from core.data.corpus import CorpusConfig

VOICES = ("espeak:en-us", "espeak:en+f2", "espeak:en-gb-x-rp+m2", "espeak:en-us+f3")
TINY = CorpusConfig(
    voices=VOICES,
    val_voices=("espeak:en-gb-x-rp+m2",),
    test_voices=("espeak:en-us+f3",),
    sequences_per_shard=6,
    held_out_sentence_fraction=0.2,
)
