"""Built-in similarity measures (``ftprobe similarity``): RSA, linear CKA (plain and debiased),
SVCCA, PWCCA and the attention Jensen–Shannon divergence. The math is in
:mod:`ftprobe.plugins.probes.similarity_measures` (imported only when a measure runs)."""

from __future__ import annotations

from typing import Any

from ftprobe import hookimpl
from ftprobe.api import SimilaritySpec


def _lazy(name: str):
    def compute(a: Any, b: Any) -> Any:
        from ftprobe.plugins.probes import similarity_measures

        return getattr(similarity_measures, name)(a, b)

    compute.__name__ = name
    return compute


MEASURES = (
    SimilaritySpec(
        name="rsa",
        description="RSA: Spearman correlation of the cosine-distance RDMs (≤5,000 examples)",
        compute=_lazy("rsa"),
    ),
    SimilaritySpec(
        name="cka",
        description="linear CKA (Kornblith et al. 2019)",
        compute=_lazy("linear_cka"),
    ),
    SimilaritySpec(
        name="cka-debiased",
        description="linear CKA with the unbiased HSIC estimator (small n; n ≥ 4)",
        compute=_lazy("debiased_linear_cka"),
    ),
    SimilaritySpec(
        name="svcca",
        description="SVCCA: mean CCA correlation of the SVD directions keeping 99% variance",
        compute=_lazy("svcca"),
    ),
    SimilaritySpec(
        name="pwcca",
        description="PWCCA: projection-weighted mean CCA correlation (Morcos et al. 2018)",
        compute=_lazy("pwcca"),
    ),
    SimilaritySpec(
        name="attn-js",
        description="Jensen–Shannon divergence of attention distributions, per layer and head",
        compute=_lazy("attention_js"),
        input="attentions",
        kind="divergence",
    ),
)


@hookimpl
def register_measures(register):
    for spec in MEASURES:
        register(spec)
