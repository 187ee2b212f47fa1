"""The MDL probe (online code) on data whose answer is derivable: labels that are a
deterministic function of the input compress far below the uniform code; labels drawn
independently of the input cannot be compressed (a code can beat ``n log2 K`` bits only by
the sampling fluctuation of the empirical label frequencies, a few bits here), so the
compression is close to 1, a little below it from what the small early prefixes overfit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ftprobe.api import ProbeData
from ftprobe.errors import FtprobeError
from ftprobe.plugins.probes.mdl import MDLProbe, block_ends

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N, D, K = 400, 8, 4
LABELS = [f"l{i}" for i in range(K)]
FAST = {"sizes": "16x16"}  # the defaults otherwise (lr 1e-3, at most 200 epochs)


def _data(deterministic: bool, seed: int = 0) -> ProbeData:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(K, D)) * 4
    y = rng.integers(0, K, N)
    X = (centers[y] + rng.normal(size=(N, D))).astype(np.float32)
    if not deterministic:
        y = rng.integers(0, K, N)  # drawn again, independently of X
    return ProbeData(X=X, y=y, labels=LABELS)


def _fit(data: ProbeData, seed: int = 0):
    probe = MDLProbe(**FAST)
    probe.fit(data, seed=seed)
    return probe.evaluate(data)


def test_block_ends_follow_the_paper():
    assert block_ends(1000) == [1, 2, 4, 8, 16, 32, 62, 125, 250, 500, 1000]
    assert block_ends(10) == [1, 2, 5, 10] and block_ends(2) == [1, 2]


def test_deterministic_labels_compress_far_below_uniform():
    result = _fit(_data(deterministic=True))
    c = result.codelength
    assert c.uniform_bits == pytest.approx(N * math.log2(K))
    assert c.online_bits == pytest.approx(sum(c.block_bits))
    assert c.block_bits[0] == pytest.approx(math.log2(K))  # the first point: uniform code
    assert c.compression > 5, c
    assert result.metrics["compression"] == c.compression and result.main_metric == "compression"


def test_random_labels_do_not_compress():
    c = _fit(_data(deterministic=False)).codelength
    assert 0.75 < c.compression < 1.05, c


def test_same_seed_same_codelength_other_seed_other_order():
    data = _data(deterministic=True)
    a, b = _fit(data).codelength, _fit(data).codelength
    assert a.block_bits == b.block_bits
    assert _fit(data, seed=1).codelength.block_bits != a.block_bits


def test_one_configuration_only():
    with pytest.raises(FtprobeError, match="one configuration"):
        MDLProbe(sizes="16x16,32x32")
