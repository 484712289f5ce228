"""Speech engines, one module each; the registry of voices is core.data.voices."""
