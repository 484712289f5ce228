"""Training-corpus generation: TTS voices with exact phone timing, sentences, augmentation."""
