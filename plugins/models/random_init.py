"""Random-encoder baselines: an encoder's architecture and tokenizer with re-initialised weights.

``random:NAME`` re-initialises every weight of encoder ``NAME`` (any registered name, hub id or
local folder) with seed 0; ``random@SEED:NAME`` picks the seed; ``random-layers[@SEED]:NAME``
keeps the embeddings (word, position, token type and their LayerNorm) and re-initialises the
transformer layers only. Weights are drawn by the model's own initialiser
(``PreTrainedModel._init_weights``, e.g. BERT's normal(0, initializer_range)), so the baseline
has the statistics the architecture starts training from. The fingerprint combines the
original's fingerprint, the mode and the seed: each baseline has its own cache entries.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable

from ftprobe import hookimpl
from ftprobe.api import EncoderSpec, LoadedEncoder
from ftprobe.errors import FtprobeError

PATTERN = re.compile(r"^random(?P<layers>-layers)?(?:@(?P<seed>\d+))?:(?P<base>.+)$")


def parse(name: str) -> tuple[str, bool, int]:
    """``(base encoder, keep embeddings, seed)`` of a ``random...:NAME`` request."""
    m = PATTERN.match(name)
    if m is None:
        raise FtprobeError(
            f"bad random encoder {name!r}; write random:NAME, random@SEED:NAME or "
            "random-layers@SEED:NAME"
        )
    return m["base"], bool(m["layers"]), int(m["seed"] or 0)


def reinitialise(model, seed: int, keep_embeddings: bool):
    """A copy of ``model`` whose weights (all, or all but the embeddings) are drawn anew."""
    import torch

    fresh = copy.deepcopy(model)
    root = fresh.encoder if keep_embeddings else fresh
    if keep_embeddings and not hasattr(fresh, "encoder"):
        raise FtprobeError(
            f"random-layers needs a model with an .encoder stack; {type(model).__name__} has "
            "none (use random:NAME to re-initialise every weight)"
        )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        with torch.no_grad():
            for module in root.modules():
                fresh._init_weights(module)
    finally:
        torch.random.set_rng_state(generator_state)
    return fresh


def load_random(requested: str) -> LoadedEncoder:
    from ftprobe.pluginmanager import encoders

    base_name, keep_embeddings, seed = parse(requested)
    base = encoders().get(base_name).load(base_name)
    model = reinitialise(base.model, seed, keep_embeddings)
    mode = "layers" if keep_embeddings else "all"
    fingerprint = hashlib.sha256(f"{base.fingerprint}|random-{mode}|{seed}".encode()).hexdigest()
    return LoadedEncoder(
        name=requested,
        model=model.eval(),
        tokenizer=base.tokenizer,
        fingerprint=f"random:{fingerprint}",
        source=f"{base.source} (re-initialised: {mode}, seed {seed})",
    )


@hookimpl
def register_encoders(register: Callable[[EncoderSpec], None]) -> None:
    register(
        EncoderSpec(
            name="random",
            description="random-weight baseline: random[-layers][@SEED]:NAME re-initialises "
            "NAME's weights (all, or all but the embeddings) with a seed",
            load=load_random,
            accepts=lambda name: PATTERN.match(name) is not None,
        )
    )
