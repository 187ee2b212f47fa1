"""Random-weight baselines (``random[-layers][@SEED]:NAME``) on the offline fixture encoder."""

from __future__ import annotations

import json

import pytest
import torch

from ftprobe.engine.loading import load_encoder
from ftprobe.errors import FtprobeError
from ftprobe.plugins.models.random_init import parse


def _params(encoder) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in encoder.model.state_dict().items()}


def test_names_parse():
    assert parse("random:minilm-l6") == ("minilm-l6", False, 0)
    assert parse("random-layers@7:org/model") == ("org/model", True, 7)
    with pytest.raises(FtprobeError, match="bad random encoder"):
        parse("random-all:x")


def test_every_weight_is_redrawn_and_the_seed_decides_them(tiny_bert_dir):
    original = load_encoder(str(tiny_bert_dir))
    a = load_encoder(f"random@3:{tiny_bert_dir}")
    b = load_encoder(f"random@3:{tiny_bert_dir}")
    c = load_encoder(f"random@4:{tiny_bert_dir}")
    po, pa, pc = _params(original), _params(a), _params(c)
    assert a is b  # memoised per name
    assert pa.keys() == po.keys() and a.tokenizer.get_vocab() == original.tokenizer.get_vocab()
    weights = [k for k in po if k.endswith("weight") and "LayerNorm" not in k]
    assert weights and all(not torch.equal(pa[k], po[k]) for k in weights)
    assert all(not torch.equal(pa[k], pc[k]) for k in weights)
    assert len({original.fingerprint, a.fingerprint, c.fingerprint}) == 3
    # the same seed in a fresh load gives the same weights
    from ftprobe.plugins.models.random_init import load_random

    again = _params(load_random(f"random@3:{tiny_bert_dir}"))
    assert all(torch.equal(pa[k], again[k]) for k in pa)
    # loading a baseline leaves the original untouched
    assert all(torch.equal(po[k], v) for k, v in _params(original).items())


def test_random_layers_keeps_the_embeddings(tiny_bert_dir):
    original = _params(load_encoder(str(tiny_bert_dir)))
    layers = _params(load_encoder(f"random-layers@1:{tiny_bert_dir}"))
    emb = [k for k in original if k.startswith("embeddings.")]
    enc = [k for k in original if k.startswith("encoder.") and k.endswith("dense.weight")]
    assert emb and all(torch.equal(layers[k], original[k]) for k in emb)
    assert enc and all(not torch.equal(layers[k], original[k]) for k in enc)


def test_a_random_baseline_is_probed_like_any_encoder(tiny_bert_dir, offline_tasks, tmp_path):
    from click.testing import CliRunner

    from ftprobe.cli import cli

    name = f"random@2:{tiny_bert_dir}"
    res = CliRunner().invoke(
        cli,
        [
            "run",
            "-t",
            "offline-pos",
            "-m",
            name,
            "-p",
            "linear",
            "-o",
            "seeds=1",
            "-o",
            "max_iter=20",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert res.exit_code == 0, res.output
    record = json.loads((tmp_path / "r" / "result.json").read_text())
    assert record["encoder"]["fingerprint"].startswith("random:")
