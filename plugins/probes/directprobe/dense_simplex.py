"""A dense, warm-started primal simplex for DirectProbe's hull-gap LP, compiled with numba.

The LP (see ``geometry._hull_gap``): min sum(s+) + sum(s-) over a, b, s+, s- >= 0 with
P'a - Q'b + s+ - s- = 0 (d rows), sum(a) = 1, sum(b) = 1, in coordinates (x - o) / scale.
Its m = d + 2 rows are dense (386 for a 384-dimensional encoder) and the merge loop solves it
thousands of times on point sets that grow by a few columns between solves, each time from the
last optimum.

Why hand-written (an explicit exception to the project's "prefer a library" rule): no
available library warm-starts a dense ~386-row simplex cheaply. HiGHS (the oracle and fallback,
``geometry.HullGapLP``) keeps the basis but pays ~0.1 s of overhead per kept-model test on this
dense basis (reading the solution back, refactorising after ``setBasis``), far more than the
few pivots most tests need; first-order nearest-point methods give no exact decisions on these
thin margins. This module keeps the basis inverse explicitly (a dense m x m array, product-form
rank-one updates, periodic refactorisation exploiting the slack columns), so a new column costs
nothing, a test whose new columns do not improve costs one pricing pass, and a rewind is a copy.

The method: primal simplex (every basis it visits is primal feasible: a crash basis of one point
of each side plus one slack per row is feasible by construction, and new columns enter at
zero), Devex pricing, a Harris two-pass ratio test (negative basic values within the tolerance
are shifted back to zero), refactorisation every ``REFACTOR_EVERY`` pivots. On a cold start
(a new model) primal simplex from the crash basis needs several times the pivots of HiGHS's
dual simplex, so ``geometry.DenseHullGapLP`` takes a model's first basis from HiGHS. Nothing here is
trusted: the caller certifies every answer in float64 exactly as for HiGHS (a strictly
separating plane checked on all points, or a common point of the two hulls within ``TOUCH``);
an answer that does not certify, a stall or a singular basis sends the test to HiGHS.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# statuses of ``_iterate``
OPTIMAL, REFACTOR, ITER_LIMIT, UNBOUNDED = 0, 1, 2, 3
REFACTOR_EVERY = 100  # pivots between refactorisations of the basis inverse
PIVOT_TOL = 1e-9  # smallest pivot element accepted by the ratio test
FEAS_DRIFT = 1e-7  # a refactorised basic value below -this: the basis is no longer feasible


@njit(cache=True, nogil=True)
def _column(j, cols, side, d, m, out):
    """Variable j's column of the constraint matrix into out (slacks: +e_k, then -e_k)."""
    out[:] = 0.0
    if j < d:
        out[j] = 1.0
    elif j < 2 * d:
        out[j - d] = -1.0
    else:
        p = j - 2 * d
        out[:d] = cols[p]
        out[d + side[p]] = 1.0


@njit(cache=True, nogil=True)
def _duals(head, binv, d):
    """y = c_B' B^-1: the sum of the rows of B^-1 at the (unit-cost) slack positions."""
    m = binv.shape[0]
    y = np.zeros(m)
    for i in range(m):
        if head[i] < 2 * d:
            y += binv[i]
    return y


@njit(cache=True, nogil=True)
def _reduced_costs(y, cols, side, n, d, dj):
    """dj = c - A'y for every variable (slacks, then the n point columns)."""
    for k in range(d):
        dj[k] = 1.0 - y[k]
        dj[d + k] = 1.0 + y[k]
    if n:
        g = cols[:n] @ np.ascontiguousarray(y[:d])
        for p in range(n):
            dj[2 * d + p] = -(g[p] + y[d + side[p]])


@njit(cache=True, nogil=True)
def _price(nv, pos, eligible, dj, weights, tol_d):
    """Devex pricing: the eligible nonbasic variable of largest dj^2 / weight among those with
    dj < -tol_d (the first on ties), or -1 when none improves."""
    q = -1
    best = 0.0
    for j in range(nv):
        if pos[j] < 0 and eligible[j] and dj[j] < -tol_d:
            score = dj[j] * dj[j] / weights[j]
            if score > best:
                best = score
                q = j
    return q


@njit(cache=True, nogil=True)
def _iterate(
    cols, side, n, d, eligible, head, pos, binv, xb, y, dj, weights, tol_p, tol_d, max_steps
):
    """Primal simplex pivots from a feasible basis (head: the variable at each position; pos:
    each variable's position or -1) until optimal, ``max_steps`` pivots (then REFACTOR) or
    unbounded. ``eligible``: variables that may enter (live, not fixed at zero). y and dj are
    kept up to date. Returns (status, pivots)."""
    m = d + 2
    nv = 2 * d + n
    alpha = np.empty(m)
    aq = np.empty(m)
    rowr = np.empty(nv)
    for step in range(max_steps):
        q = _price(nv, pos, eligible, dj, weights, tol_d)
        if q < 0:
            # confirm on freshly computed reduced costs before calling it optimal
            y[:] = _duals(head, binv, d)
            _reduced_costs(y, cols, side, n, d, dj)
            q = _price(nv, pos, eligible, dj, weights, tol_d)
            if q < 0:
                return OPTIMAL, step
        # the entering column in the current basis
        _column(q, cols, side, d, m, aq)
        if q < 2 * d:
            k = q if q < d else q - d
            sg = 1.0 if q < d else -1.0
            for i in range(m):
                alpha[i] = sg * binv[i, k]
        else:
            p = q - 2 * d
            s = d + side[p]
            x = cols[p]
            for i in range(m):
                acc = binv[i, s]
                row = binv[i]
                for kk in range(d):
                    acc += row[kk] * x[kk]
                alpha[i] = acc
        # Harris two-pass ratio test
        theta_max = np.inf
        for i in range(m):
            if alpha[i] > PIVOT_TOL:
                t = (xb[i] + tol_p) / alpha[i]
                if t < theta_max:
                    theta_max = t
        if theta_max == np.inf:
            return UNBOUNDED, step
        r = -1
        big = 0.0
        for i in range(m):
            if alpha[i] > PIVOT_TOL and xb[i] / alpha[i] <= theta_max and alpha[i] > big:
                big = alpha[i]
                r = i
        ar = alpha[r]
        theta = xb[r] / ar
        if theta < 0.0:
            theta = 0.0
        # the pivot row of the tableau over every variable: (row r of B^-1) . a_j
        rho = binv[r].copy()
        for k in range(d):
            rowr[k] = rho[k]
            rowr[d + k] = -rho[k]
        if n:
            g = cols[:n] @ np.ascontiguousarray(rho[:d])
            for p in range(n):
                rowr[2 * d + p] = g[p] + rho[d + side[p]]
        # reduced costs, duals and Devex weights
        ratio = dj[q] / ar
        wq = weights[q]
        for j in range(nv):
            if pos[j] < 0 and j != q:
                a = rowr[j]
                if a != 0.0:
                    dj[j] -= ratio * a
                    t = (a / ar) * (a / ar) * wq
                    if t > weights[j]:
                        weights[j] = t
        y += ratio * rho
        leave = head[r]
        dj[leave] = -ratio
        dj[q] = 0.0
        t = wq / (ar * ar)
        weights[leave] = t if t > 1.0 else 1.0
        # primal values (shifted back to zero within the tolerance)
        for i in range(m):
            v = xb[i] - theta * alpha[i]
            xb[i] = v if v > 0.0 else 0.0
        xb[r] = theta
        # the inverse: row r scaled by the pivot, eliminated from the others
        rho /= ar
        for i in range(m):
            if i != r:
                f = alpha[i]
                if f != 0.0:
                    row = binv[i]
                    for kk in range(m):
                        row[kk] -= f * rho[kk]
        binv[r] = rho
        head[r] = q
        pos[q] = r
        pos[leave] = -1
    return REFACTOR, max_steps


@njit(cache=True, nogil=True)
def _refactor(cols, side, d, head, binv, xb):
    """B^-1 from scratch, with the slack columns eliminated first: only the point columns'
    rows not covered by a slack (k x k) are inverted. Also xb = B^-1 (0, .., 0, 1, 1).
    Returns False when the basis is singular (two slacks of one row, or rows left over)."""
    m = d + 2
    covered = np.full(m, -1)  # row -> slack position
    sign = np.zeros(m)
    pts = np.empty(m, dtype=np.int64)
    kk = 0
    for i in range(m):
        j = head[i]
        if j < 2 * d:
            k = j if j < d else j - d
            if covered[k] >= 0:
                return False
            covered[k] = i
            sign[i] = 1.0 if j < d else -1.0
        else:
            pts[kk] = i
            kk += 1
    rest = np.empty(m, dtype=np.int64)
    nr = 0
    for k in range(m):
        if covered[k] < 0:
            rest[nr] = k
            nr += 1
    if nr != kk:
        return False
    binv[:] = 0.0
    if kk:
        X = np.zeros((m, kk))  # the point columns
        for c in range(kk):
            p = head[pts[c]] - 2 * d
            X[:d, c] = cols[p]
            X[d + side[p], c] = 1.0
        XR = np.empty((kk, kk))
        for a in range(kk):
            XR[a] = X[rest[a]]
        XRi = np.linalg.inv(XR)  # (raises on a singular basis: the caller catches it)
        for c in range(kk):
            for a in range(kk):
                binv[pts[c], rest[a]] = XRi[c, a]
        # slack rows: z_s = sign * (v[row] - X[row] . z_P), one product for all of them
        srows = np.empty(m - kk, dtype=np.int64)
        ns = 0
        for k in range(m):
            if covered[k] >= 0:
                srows[ns] = k
                ns += 1
        XS = np.empty((ns, kk))
        for a in range(ns):
            XS[a] = X[srows[a]]
        T = XS @ XRi
        for a in range(ns):
            k = srows[a]
            i = covered[k]
            binv[i, k] = sign[i]
            for c in range(kk):
                binv[i, rest[c]] = -sign[i] * T[a, c]
    else:
        for k in range(m):
            i = covered[k]
            binv[i, k] = sign[i]
    for i in range(m):
        xb[i] = binv[i, d] + binv[i, d + 1]
    return True


class DenseSimplex:
    """The hull-gap LP over point columns added and dropped by the caller, solved by primal
    simplex from the last basis. Variables: 2d slacks (+e_k, -e_k), then the point columns in
    the order added; a column is (x, e_d) for a P point, (x, e_{d+1}) for a Q point, x already
    in the LP's coordinates (P's: (p - o) / scale, Q's: (o - q) / scale)."""

    def __init__(self, d: int):
        self.d = d
        self.m = d + 2
        self.cols = np.zeros((64, d))
        self.side = np.zeros(64, dtype=np.int64)
        self.n = 0
        self.fixed = np.zeros(64, dtype=bool)  # point columns fixed at zero
        self.head = np.zeros(0, dtype=np.int64)
        self.binv = np.zeros((0, 0))
        self.xb = np.zeros(0)
        self.has_basis = False
        self.y = np.zeros(self.m)  # the duals of the last optimum
        self.since = 0  # pivots since the last refactorisation
        self.pivots = 0
        self.refactors = 0

    def add(self, X: np.ndarray, side: np.ndarray) -> None:
        """Append point columns (rows of X, LP coordinates; side 0: P, 1: Q), nonbasic."""
        k = len(X)
        if self.n + k > len(self.cols):
            cap = max(2 * len(self.cols), self.n + k)
            for name, fill in (("cols", 0.0), ("side", 0), ("fixed", False)):
                old = getattr(self, name)
                new = np.full((cap, *old.shape[1:]), fill, dtype=old.dtype)
                new[: self.n] = old[: self.n]
                setattr(self, name, new)
        self.cols[self.n : self.n + k] = X
        self.side[self.n : self.n + k] = side
        self.fixed[self.n : self.n + k] = False
        self.n += k

    def basic(self) -> np.ndarray:
        """Which point columns are basic."""
        out = np.zeros(self.n, dtype=bool)
        if self.has_basis:
            at = self.head[self.head >= 2 * self.d] - 2 * self.d
            out[at] = True
        return out

    def fix(self, mask: np.ndarray) -> bool:
        """Fix the point columns where mask is set at zero; False when one of them is basic
        (the basis is then dropped: the caller rewinds or the next solve starts afresh)."""
        self.fixed[: self.n] |= mask
        if self.has_basis and self.basic()[mask].any():
            self.has_basis = False
            return False
        return True

    def delete(self, mask: np.ndarray) -> None:
        """Delete the point columns where mask is set (a basic one drops the basis)."""
        keep = ~mask
        if self.has_basis:
            if self.basic()[mask].any():
                self.has_basis = False
            else:
                new_at = np.cumsum(keep) - 1
                pts = self.head >= 2 * self.d
                self.head[pts] = 2 * self.d + new_at[self.head[pts] - 2 * self.d]
        k = int(keep.sum())
        self.cols[:k] = self.cols[: self.n][keep]
        self.side[:k] = self.side[: self.n][keep]
        self.fixed[:k] = self.fixed[: self.n][keep]
        self.n = k

    def save(self) -> tuple:
        """The basis and its inverse, for ``restore`` (valid while no column is deleted)."""
        return (self.n, self.has_basis, self.head.copy(), self.binv.copy(), self.xb.copy())

    def restore(self, saved: tuple) -> None:
        """Back to a saved basis (columns added since are nonbasic)."""
        n, self.has_basis, head, binv, xb = saved
        self.head, self.binv, self.xb = head.copy(), binv.copy(), xb.copy()
        if self.has_basis and self.basic()[: self.n][self.fixed[: self.n]].any():
            self.has_basis = False

    def crash(self) -> bool:
        """A feasible starting basis: the P column nearest Q's mean and the Q column nearest
        it (L1) in the two convexity rows, and per equality row the slack of the sign that
        absorbs their difference. False when a side has no free column."""
        d, n = self.d, self.n
        free = ~self.fixed[:n]
        ip = np.flatnonzero(free & (self.side[:n] == 0))
        iq = np.flatnonzero(free & (self.side[:n] == 1))
        if not len(ip) or not len(iq):
            return False
        C = self.cols[:n]
        qmean = -C[iq].mean(axis=0)  # Q's columns hold o - q
        p0 = ip[int(np.argmin(np.abs(C[ip] - qmean).sum(axis=1)))]
        q0 = iq[int(np.argmin(np.abs(C[iq] + C[p0]).sum(axis=1)))]
        r = C[p0] + C[q0]  # the point columns' sum over the equality rows: slacks absorb -r
        head = np.empty(self.m, dtype=np.int64)
        head[:d] = np.where(r > 0.0, d + np.arange(d), np.arange(d))  # -e_k when r_k > 0
        head[d], head[d + 1] = 2 * d + p0, 2 * d + q0
        self.head = head
        self.binv = np.zeros((self.m, self.m))
        self.xb = np.zeros(self.m)
        self.has_basis = True
        return self.refactor()

    def refactor(self) -> bool:
        """B^-1 and the basic values afresh; False (and no basis) when the basis is singular
        or its values are no longer feasible (rounding drift)."""
        self.refactors += 1
        try:
            ok = bool(_refactor(self.cols, self.side, self.d, self.head, self.binv, self.xb))
        except Exception:  # numba's LinAlgError on a singular matrix
            ok = False
        ok = ok and bool(np.isfinite(self.binv).all()) and float(self.xb.min()) >= -FEAS_DRIFT
        if ok:
            np.maximum(self.xb, 0.0, out=self.xb)
        else:
            self.has_basis = False
        return ok

    def solve(self, tol: float = 1e-9, max_pivots: int = 4000) -> bool:
        """Optimise from the current basis (a crash basis when there is none); whether the
        optimum was reached."""
        d = self.d
        if not self.has_basis and not self.crash():
            return False
        nv = 2 * d + self.n
        pos = np.full(nv, -1, dtype=np.int64)
        pos[self.head] = np.arange(self.m)
        eligible = np.ones(nv, dtype=bool)
        eligible[2 * d :] = ~self.fixed[: self.n]
        y = _duals(self.head, self.binv, d)
        dj = np.empty(nv)
        _reduced_costs(y, self.cols, self.side, self.n, d, dj)
        weights = np.ones(nv)
        done = 0
        since = self.since
        while done < max_pivots:
            steps = min(REFACTOR_EVERY - since, max_pivots - done)
            status, k = _iterate(
                self.cols, self.side, self.n, d, eligible, self.head, pos, self.binv, self.xb,
                y, dj, weights, tol, tol, steps,
            )  # fmt: skip
            done += k
            since += k
            self.pivots += k
            if status == OPTIMAL:
                self.since = since
                self.y = y
                return True
            if status == UNBOUNDED:
                break
            if since >= REFACTOR_EVERY:
                since = 0
                if not self.refactor():
                    break
                y[:] = _duals(self.head, self.binv, d)
                _reduced_costs(y, self.cols, self.side, self.n, d, dj)
        self.since = since
        self.has_basis = False
        return False

    def solution(self) -> tuple[float, np.ndarray, np.ndarray]:
        """After ``solve``: the objective, the point columns' values and the equality duals."""
        d = self.d
        x = np.zeros(self.n)
        pts = self.head >= 2 * d
        x[self.head[pts] - 2 * d] = self.xb[pts]
        objective = float(self.xb[~pts].sum())
        return objective, x, self.y[:d].copy()
