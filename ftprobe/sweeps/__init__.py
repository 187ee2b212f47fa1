"""Sweeps: a TOML spec of axes expanded into cells (fine-tuning and ``run`` cells), sharded,
run through an executor plugin, skip-if-done. A layer above the studies."""
