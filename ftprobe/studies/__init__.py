"""The studies layer: ``run``, ``compare``, ``dynamics``, ``matrix``, ``similarity``. Each study
builds on the engine and returns (and stores) a typed record; a study never imports another."""
