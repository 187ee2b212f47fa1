"""DirectProbe plugin."""
