"""Rank-one updates of an upper Cholesky factor, compiled with numba.

A least-squares fit of a union that grew by a few points (``geometry.lsq_grow``) needs the
factor of its normal matrix plus a few rows: a refactorisation costs O(k^3) (LAPACK's dpotrf,
about 0.85 ms at k = 385 on one core) where updating the kept factor costs O(k^2) a row
(about 0.05 ms). Neither scipy nor numpy offers a Cholesky update (scipy has ``qr_update``
only), so it is written here: the standard update by rotations (as LINPACK's dchud), row by
row of a C-ordered factor so the inner loop is contiguous; tested against dpotrf of the
updated matrix.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _update(R: np.ndarray, rows: np.ndarray, w: np.ndarray) -> bool:
    k = R.shape[0]
    for i in range(rows.shape[0]):
        for j in range(k):
            w[j] = rows[i, j]
        for j in range(k):
            rjj = R[j, j]
            r = np.sqrt(rjj * rjj + w[j] * w[j])
            if not (r > 0.0 and rjj > 0.0) or not np.isfinite(r):
                return False
            c, s = r / rjj, w[j] / rjj
            ci = 1.0 / c
            R[j, j] = r
            for m in range(j + 1, k):
                rm = (R[j, m] + s * w[m]) * ci
                w[m] = c * w[m] - s * rm
                R[j, m] = rm
    return True


def cholesky_add_rows(R: np.ndarray, rows: np.ndarray) -> bool:
    """Update the C-ordered upper factor R (R^T R = H; only its upper triangle read and
    written) in place to that of H + rows^T rows; False (R then partly updated: discard it)
    when a pivot is not positive and finite."""
    if not R.flags.c_contiguous:
        raise ValueError("cholesky_add_rows needs a C-ordered factor")
    if not len(rows):
        return True
    return bool(_update(R, np.ascontiguousarray(rows, dtype=np.float64), np.empty(R.shape[0])))
