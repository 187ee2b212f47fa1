"""Invariants and derived answers of the similarity measures on synthetic matrices."""

from __future__ import annotations

import numpy as np
import pytest

from ftprobe.plugins.probes import similarity_measures as sm
from ftprobe.plugins.probes.similarity_measures import MeasureError

VECTOR_MEASURES = {
    "rsa": sm.rsa,
    "cka": sm.linear_cka,
    "cka-debiased": sm.debiased_linear_cka,
    "svcca": sm.svcca,
    "pwcca": sm.pwcca,
}


def _pair(seed: int = 0, n: int = 300, d: int = 20, e: int = 15):
    """X, and Y = a noisy linear map of X (so every measure lies strictly inside (0, 1))."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d)
    y = x @ rng.normal(size=(d, e)) + 2.0 * rng.normal(size=(n, e))
    return x, y


def _orthogonal(d: int, seed: int = 1) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _centered_orthonormal(n: int, k: int, seed: int = 2) -> np.ndarray:
    z = np.random.default_rng(seed).normal(size=(n, k))
    q, _ = np.linalg.qr(z - z.mean(axis=0))
    return q


@pytest.mark.parametrize("name", list(VECTOR_MEASURES))
def test_identical_representations_score_one(name):
    x, _ = _pair()
    assert VECTOR_MEASURES[name](x, x) == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("name", list(VECTOR_MEASURES))
def test_related_but_different_scores_strictly_between(name):
    x, y = _pair()
    assert 0.05 < VECTOR_MEASURES[name](x, y) < 0.999


@pytest.mark.parametrize("name", ["rsa", "cka", "cka-debiased", "svcca"])
def test_invariant_to_orthogonal_transform_and_isotropic_scaling(name):
    f = VECTOR_MEASURES[name]
    x, y = _pair()
    base = f(x, y)
    assert f(x @ _orthogonal(x.shape[1]), y) == pytest.approx(base, abs=1e-9)
    assert f(x, 7.5 * y @ _orthogonal(y.shape[1], seed=3)) == pytest.approx(base, abs=1e-9)
    assert f(0.01 * x, 40.0 * y) == pytest.approx(base, abs=1e-9)
    assert f(y, x) == pytest.approx(base, abs=1e-9)  # symmetric


def test_pwcca_invariances():
    """PWCCA weighs by the neurons of the narrower side (here x): invariant to isotropic
    scaling, to sign flips and permutations of those neurons, and to any orthogonal (indeed
    invertible) map of the other side; a general rotation of x changes its weights."""
    x, y = _pair(d=15, e=20)
    base = sm.pwcca(x, y)
    perm = np.random.default_rng(4).permutation(x.shape[1])
    signs = np.where(np.arange(x.shape[1]) % 2, -1.0, 1.0)
    assert sm.pwcca(3.0 * (x[:, perm] * signs), 0.2 * y) == pytest.approx(base, abs=1e-9)
    assert sm.pwcca(x, y @ _orthogonal(y.shape[1])) == pytest.approx(base, abs=1e-9)
    assert sm.pwcca(x, y @ np.random.default_rng(5).normal(size=(20, 20))) == pytest.approx(
        base, abs=1e-8
    )
    assert sm.pwcca(y, x) == pytest.approx(base, abs=1e-9)  # narrower side chosen, not order


def test_linear_cka_matches_gram_matrix_definition():
    x, y = _pair(n=60)
    h = np.eye(60) - 1 / 60
    k, l_ = x @ x.T, y @ y.T

    def hsic(a, b):
        return np.trace(a @ h @ b @ h)

    expected = hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))
    assert sm.linear_cka(x, y) == pytest.approx(expected, rel=1e-10)


def test_debiased_cka_matches_unbiased_hsic_on_gram_matrices():
    """Song et al. (2012) unbiased HSIC on explicit Gram matrices with zeroed diagonals."""
    x, y = _pair(n=25)
    n = len(x)

    def hsic_u(a, b):
        k, l_ = a @ a.T, b @ b.T
        np.fill_diagonal(k, 0.0)
        np.fill_diagonal(l_, 0.0)
        one = np.ones(n)
        return (
            np.trace(k @ l_)
            + (one @ k @ one) * (one @ l_ @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * one @ k @ l_ @ one
        ) / (n * (n - 3))

    expected = hsic_u(x, y) / np.sqrt(hsic_u(x, x) * hsic_u(y, y))
    assert sm.debiased_linear_cka(x, y) == pytest.approx(expected, rel=1e-9)
    # translation does not matter (the estimator is built on centred data)
    assert sm.debiased_linear_cka(x + 5.0, y - 3.0) == pytest.approx(expected, rel=1e-9)
    # on few examples the plain estimator is biased upward on unrelated data
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(12, 50)), rng.normal(size=(12, 50))
    assert sm.linear_cka(a, b) > 0.5 and abs(sm.debiased_linear_cka(a, b)) < 0.2


def test_cca_measures_on_known_canonical_correlations():
    """x = [3·u1, u2], y = [u1, cosθ·u2 + sinθ·v]: canonical correlations 1 and cosθ."""
    u1, u2, v = _centered_orthonormal(50, 3).T
    c = np.cos(0.9)
    x = np.stack([3 * u1, u2], axis=1)
    y = np.stack([u1, c * u2 + np.sin(0.9) * v], axis=1)
    assert sm.svcca(x, y) == pytest.approx((1 + c) / 2, abs=1e-10)
    # PWCCA weights: Σ_j |<h_i, x_j>| = 3 for h = u1, 1 for h = u2
    assert sm.pwcca(x, y) == pytest.approx((3 * 1 + 1 * c) / 4, abs=1e-10)


def test_svcca_drops_directions_below_one_percent_variance():
    """x's second direction holds 0.25% of its variance: SVCCA drops it, PWCCA keeps it
    with a small weight."""
    u1, u2, v = _centered_orthonormal(50, 3).T
    x = np.stack([u1, 0.05 * u2], axis=1)
    y = np.stack([u2, v], axis=1)
    assert sm.svcca(x, y) == pytest.approx(0.0, abs=1e-10)
    assert sm.svcca(x, y, keep=1.0) == pytest.approx(0.5, abs=1e-10)
    assert sm.pwcca(x, y) == pytest.approx(0.05 / 1.05, abs=1e-10)


def test_rsa_matches_scipy_and_subsamples_deterministically():
    from scipy.spatial.distance import pdist
    from scipy.stats import spearmanr

    x, y = _pair(n=120)
    expected = spearmanr(pdist(x, "cosine"), pdist(y, "cosine")).statistic
    assert sm.rsa(x, y) == pytest.approx(expected, abs=1e-12)
    assert sm.rsa(x, y, metric="euclidean") == pytest.approx(
        spearmanr(pdist(x), pdist(y)).statistic, abs=1e-12
    )
    keep = sm.subsample_rows(120, 50)
    assert len(keep) == 50 and np.all(np.diff(keep) > 0)
    assert sm.rsa(x, y, max_rows=50) == pytest.approx(sm.rsa(x[keep], y[keep]), abs=1e-12)
    assert np.array_equal(sm.subsample_rows(120, 50), keep)


def test_average_ranks_match_scipy_with_ties():
    from scipy.stats import rankdata

    values = np.round(np.random.default_rng(3).random(500), 2)  # many ties
    assert np.array_equal(sm.average_ranks(values), rankdata(values))


def test_degenerate_inputs_are_clear_errors():
    x, y = _pair(n=40)
    with pytest.raises(MeasureError, match="at least 4 examples"):
        sm.debiased_linear_cka(x[:3], y[:3])
    with pytest.raises(MeasureError, match="constant"):
        sm.linear_cka(np.ones((10, 4)), y[:10])
    with pytest.raises(MeasureError, match="constant"):
        sm.svcca(np.ones((10, 4)), y[:10])
    with pytest.raises(MeasureError, match="40 and 39 rows"):
        sm.linear_cka(x, y[:39])
    with pytest.raises(MeasureError, match="too few for CCA"):
        sm.pwcca(x[:30], y[:30])  # 20 + 15 directions need more than 35 examples
    with pytest.raises(MeasureError, match="equally dissimilar"):
        sm.rsa(np.eye(5), y[:5])
    with pytest.raises(MeasureError, match="all-zero row"):
        sm.rsa(np.vstack([np.zeros(20), x[:5]]), y[:6])
    with pytest.raises(MeasureError, match="NaN"):
        sm.linear_cka(np.full((5, 2), np.nan), y[:5])


# ------------------------------------------------------------------------- attention
def _rows(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    z = np.random.default_rng(seed).gamma(0.5, size=shape)
    return z / z.sum(axis=-1, keepdims=True)


def test_js_identical_zero_symmetric_bounded_and_matches_scipy():
    from scipy.spatial.distance import jensenshannon

    p, q = _rows(0, (200, 9)), _rows(1, (200, 9))
    js = sm.js_divergence(p, q)
    assert np.all(sm.js_divergence(p, p) == 0.0)
    assert np.array_equal(js, sm.js_divergence(q, p))
    assert np.all((js > 0) & (js <= np.log(2)))
    assert js == pytest.approx(jensenshannon(p, q, axis=-1) ** 2, abs=1e-12)
    disjoint = sm.js_divergence([1.0, 0.0, 0.0], [0.0, 0.5, 0.5])
    assert disjoint == pytest.approx(np.log(2), abs=1e-15)


def test_attention_js_averages_tokens_per_head():
    """Head 0 identical (0), head 1 disjoint one-hot rows (ln 2): per head [0, ln 2],
    whatever the sentence lengths."""

    def maps(t: int, shift: int) -> np.ndarray:
        same = _rows(t, (t, t))
        onehot = np.eye(t)[(np.arange(t) + shift) % t]
        return np.stack([same, onehot])

    a = [maps(3, 0), maps(5, 0)]
    b = [maps(3, 1), maps(5, 2)]
    out = sm.attention_js(a, b)
    assert out["per_head"] == pytest.approx([0.0, np.log(2)], abs=1e-12)
    assert out["mean"] == pytest.approx(np.log(2) / 2, abs=1e-12)
    assert sm.attention_js(a, a) == {"mean": 0.0, "per_head": [0.0, 0.0]}
    # token-weighted: one sentence of 3 tokens that differs in head 0 on one query only
    c = [maps(3, 0), maps(5, 0)]
    c[0] = c[0].copy()
    c[0][0, 0] = np.eye(3)[np.argmin(a[0][0, 0])]
    expected = sm.js_divergence(a[0][0, 0], c[0][0, 0]) / 8
    assert sm.attention_js(a, c)["per_head"][0] == pytest.approx(expected, abs=1e-12)


def test_attention_js_rejects_mismatched_maps():
    a = [_rows(0, (2, 4, 4))]
    with pytest.raises(MeasureError, match="share the tokenizer"):
        sm.attention_js(a, [_rows(0, (2, 5, 5))])
    with pytest.raises(MeasureError, match="1 and 2 sentences"):
        sm.attention_js(a, a * 2)
    with pytest.raises(MeasureError, match="sums to 0"):
        sm.attention_js([np.zeros((2, 4, 4))], a)
