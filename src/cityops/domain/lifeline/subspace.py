"""A joint anomaly detector for the series of one asset: what each series alone cannot see.

A pump station's flows, statuses, tank levels and pressures move together; an attack or a fault
that keeps every reading inside its usual range (a tank level held low while the pumps behave as
if it were full) breaks only how they relate. Per group (the anomaly-watched series of one asset,
at least ``min_series``), we keep an online mean and covariance and, every ``refit`` vectors, the
principal subspace of the correlation matrix holding ``variance`` of it. A vector scores by its
squared distance from that subspace (the SPE or Q statistic of process monitoring). SPE is a sum
of squares, roughly a scaled chi-square; its cube root is close to normal (Wilson–Hilferty), so
the score is the robust z of SPE^(1/3) against its own EWMA mean and mean absolute deviation,
and above ``z`` the vector is anomalous. (log(SPE) was tried first: with one or two residual
directions its left tail is so long that a broken relation needed SPE 100 times its usual size.)

Online and bounded: learning is cumulative up to ``horizon`` vectors, then an EWMA; updates after
warm-up are clipped to ±``clip`` deviations, so an attack teaches the model only slowly. A group
is scored once per batch on the latest value of each member (sample and hold), once every member
has reported. State lives in the rows of the member series (mean, covariance row, subspace row,
the series id of each column) and per asset (vectors seen, when last fitted, the SPE baseline),
so it is snapshotted with the other rule state and a restart decides exactly as an uninterrupted
run; a group whose membership changed starts afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cityops.domain.lifeline.kernels import F64, I64, NONE, B, Sorted
from cityops.domain.lifeline.state import StateArrays

MEAN_ABS_TO_SIGMA = 1.25
WARMUP_PER_SERIES = 10  # vectors per member before the subspace is trusted


@dataclass(frozen=True, slots=True)
class JointConfig:
    min_series: int = 3  # smaller assets get no joint model (0: none at all)
    z: float = 3.0  # robust z of SPE^(1/3)
    variance: float = 0.99  # share of the correlation the subspace keeps
    horizon: int = 10_000  # vectors: cumulative learning up to here, EWMA beyond
    refit: int = 24  # vectors between subspace refits
    spe_horizon: int = 1_000  # vectors: the SPE baseline follows the current subspace
    clip: float = 4.0
    rel_floor: float = 1e-3  # scale floor rel_floor·(|mean| + 1): constant series stay finite


@dataclass(frozen=True, slots=True)
class Scored:
    """The groups scored in one batch: asset index, time of the latest point, z, anomalous."""

    asset: I64
    ts: I64
    z: F64
    anomalous: B


def groups_by_asset(asset_index: I64, watched: B, min_series: int) -> list[I64]:
    """The watched series of each asset that has at least ``min_series`` of them."""
    if min_series <= 0:
        return []
    ks = np.flatnonzero(watched)
    out = []
    for a in np.unique(asset_index[ks]).tolist():
        members = ks[asset_index[ks] == a]
        if len(members) >= min_series:
            out.append(members.astype(np.int64))
    return out


class JointBaselines:
    """The joint models of all groups; arrays are registered in (and restored with) ``state``."""

    def __init__(self, groups: list[I64], asset_index: I64, series_id: I64, n_assets: int,
                 state: StateArrays, cfg: JointConfig) -> None:  # fmt: skip
        n = len(series_id)
        self.cfg, self.groups, self.series_id, self.state = cfg, groups, series_id, state
        self.asset = np.array([int(asset_index[m[0]]) for m in groups], dtype=np.int64)
        self.group_of = np.full(n, -1, dtype=np.int64)
        for g, members in enumerate(groups):
            self.group_of[members] = g
        width = max((len(m) for m in groups), default=0)
        state.add("joint.last", np.full(n, np.nan))
        state.add("joint.mean", np.zeros(n))
        state.add("joint.cov", np.zeros((n, width)))
        state.add("joint.cols", np.full((n, width), NONE, dtype=np.int64))
        state.add("joint.basis", np.zeros((n, width)))  # unused columns stay 0
        state.add_asset("joint.seen", np.zeros(n_assets, dtype=np.int64))
        state.add_asset("joint.fitted", np.full(n_assets, NONE, dtype=np.int64))
        state.add_asset("joint.spe", np.zeros((n_assets, 3)))  # mean, mean abs dev, count

    def process(self, p: Sorted) -> Scored:
        """Hold the batch's latest values, then score and learn each complete touched group."""
        s = self.state
        s["joint.last"][p.k[p.last]] = p.value[p.last]
        g_of = self.group_of[p.k]
        inside = g_of >= 0
        latest = np.full(len(self.groups), NONE, dtype=np.int64)
        np.maximum.at(latest, g_of[inside], p.ts[inside])
        touched = np.flatnonzero(latest != NONE)
        z = np.full(len(touched), np.nan)
        for i, g in enumerate(touched.tolist()):
            x = s["joint.last"][self.groups[g]]
            if not np.isnan(x).any():
                z[i] = self._step(g, x)
        with np.errstate(invalid="ignore"):
            bad = z > self.cfg.z
        return Scored(self.asset[touched], latest[touched], z, bad)

    # -- one group -----------------------------------------------------------------------------
    def _step(self, g: int, x: F64) -> float:
        """Score ``x`` against the model before it (NaN while warming up), then learn it."""
        m, a, cfg, s = self.groups[g], int(self.asset[g]), self.cfg, self.state
        self._check(g)
        d = len(m)
        seen = int(s.asset("joint.seen")[a])
        mean, cov = s["joint.mean"][m], s["joint.cov"][m, :d]
        scale = np.maximum(np.sqrt(np.maximum(np.diag(cov), 0.0)),
                           cfg.rel_floor * (np.abs(mean) + 1.0))  # fmt: skip
        warm = seen >= WARMUP_PER_SERIES * d
        z = np.nan
        if warm:
            basis = self._basis(g, seen, cov, scale)
            xs = (x - mean) / scale
            resid = xs - basis @ (basis.T @ xs)
            z = self._spe(a, float(np.cbrt(resid @ resid)))
        if z > cfg.z:  # an anomalous vector teaches nothing (an attack cannot become normal)
            return float(z)
        # Learn: cumulative, then EWMA. Not clipped per member: a pump's rare state would be
        # clipped away for good, shrinking its variance and making its next switch an anomaly.
        alpha = 1.0 / min(seen + 1, cfg.horizon)
        delta = x - mean
        s["joint.mean"][m] = mean + alpha * delta
        s["joint.cov"][m, :d] = (1.0 - alpha) * (cov + alpha * np.outer(delta, delta))
        s.asset("joint.seen")[a] = seen + 1
        return float(z)

    def _spe(self, a: int, root: float) -> float:
        """The robust z of SPE^(1/3) (``root``) against the asset's baseline, which learns it."""
        cfg = self.cfg
        mean, dev, count = self.state.asset("joint.spe")[a]
        scale = max(dev * MEAN_ABS_TO_SIGMA, 1e-9)
        warm = count >= WARMUP_PER_SERIES * 2
        z = (root - mean) / scale if warm else np.nan
        step = float(np.clip(root - mean, -cfg.clip * scale, cfg.clip * scale)) if warm \
            else root - mean  # fmt: skip
        alpha = 1.0 / min(count + 1, cfg.spe_horizon)
        new_mean = mean + alpha * step
        new_dev = dev + alpha * (abs(step) - dev) if count else 0.0
        self.state.asset("joint.spe")[a] = (new_mean, new_dev, count + 1)
        return float(z)

    def _basis(self, g: int, seen: int, cov: F64, scale: F64) -> F64:
        """The principal subspace of the correlation, refitted every ``refit`` vectors."""
        m, a, s = self.groups[g], int(self.asset[g]), self.state
        fitted = int(s.asset("joint.fitted")[a])
        if fitted != NONE and seen - fitted < self.cfg.refit:
            basis: F64 = s["joint.basis"][m, : len(m)]
            return basis
        corr = cov / np.outer(scale, scale)
        values, vectors = np.linalg.eigh(corr)
        values, vectors = values[::-1], vectors[:, ::-1]
        total = float(values.sum())
        share = np.cumsum(values) / total if total > 0 else np.ones(len(values))
        keep = min(int(np.searchsorted(share, self.cfg.variance)) + 1, len(values) - 1)
        s["joint.basis"][m] = 0.0
        s["joint.basis"][m, :keep] = vectors[:, :keep]
        s.asset("joint.fitted")[a] = seen
        return np.ascontiguousarray(vectors[:, :keep])

    def _check(self, g: int) -> None:
        """Start the group afresh unless its state was learnt with exactly these members."""
        m, s = self.groups[g], self.state
        ids = self.series_id[m]
        cols = s["joint.cols"][m]
        if np.array_equal(cols[:, : len(m)], np.broadcast_to(ids, (len(m), len(m)))) and \
                (cols[:, len(m):] == NONE).all():  # fmt: skip
            return
        a = int(self.asset[g])
        s["joint.mean"][m] = s["joint.last"][m]
        s["joint.cov"][m] = 0.0
        s["joint.cols"][m] = NONE
        s["joint.cols"][m, : len(m)] = ids
        s["joint.basis"][m] = 0.0
        s.asset("joint.seen")[a] = 0
        s.asset("joint.fitted")[a] = NONE
        s.asset("joint.spe")[a] = 0.0
