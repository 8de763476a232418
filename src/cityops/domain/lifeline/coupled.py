"""Coupled-risk rules (耦合风险): conditions of other rules on an asset and on its neighbours,
all within one time window, raise a higher level on the asset (gas in a well beside a gas
pipe together with a pressure drop on that pipe → 红)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cityops.domain.lifeline.kernels import I8, I64, NONE
from cityops.domain.lifeline.ruleset import Rule


@dataclass(frozen=True, slots=True)
class Adjacency:
    """Neighbours of each asset index, compressed: ``indices[indptr[a]:indptr[a + 1]]``."""

    indptr: I64
    indices: I64

    @staticmethod
    def of(n_assets: int, pairs: list[tuple[int, int]]) -> Adjacency:
        both = sorted({(a, b) for a, b in pairs} | {(b, a) for a, b in pairs})
        src = np.array([a for a, _ in both], dtype=np.int64)
        dst = np.array([b for _, b in both], dtype=np.int64)
        indptr = np.zeros(n_assets + 1, dtype=np.int64)
        np.add.at(indptr, src + 1, 1)
        return Adjacency(np.cumsum(indptr), dst)


def neighbour_max(values: I64, adjacency: Adjacency) -> I64:
    """For each asset, the largest value among its neighbours (NONE without any)."""
    n = len(adjacency.indptr) - 1
    out = np.full(n, NONE, dtype=np.int64)
    if not len(adjacency.indices):
        return out
    degree = np.diff(adjacency.indptr)
    has = degree > 0
    reduced = np.maximum.reduceat(values[adjacency.indices], adjacency.indptr[:-1][has])
    out[has] = reduced
    return out


def coupled_levels(rule: Rule, subjects: I64, held: dict[str, I64], adjacency: Adjacency,
                   asset_kinds: list[str], now: int) -> I8:  # fmt: skip
    """The rule's level for each subject asset where every term held within the window.

    ``held[rule_id]`` is (n_assets, 4): when that rule last held at ≥ each level, per asset.
    """
    until = coupled_until(rule, subjects, held, adjacency, asset_kinds)
    return np.where((until != NONE) & (now <= until), rule.level, 0).astype(np.int8)


def coupled_until(rule: Rule, subjects: I64, held: dict[str, I64], adjacency: Adjacency,
                  asset_kinds: list[str]) -> I64:  # fmt: skip
    """For each subject asset, until when every term has held within the window: the oldest
    term's latest hold plus the window (NONE where a term never held). Past it, the rule
    stops holding unless new readings renew a term."""
    oldest = np.full(len(subjects), np.iinfo(np.int64).max, dtype=np.int64)
    for term in rule.terms:
        latest = np.full(len(subjects), NONE, dtype=np.int64)
        for rid in term.rules:
            when = held[rid][:, term.level - 1]
            if term.at == "adjacent":
                if term.kinds:
                    kinds = {k.value for k in term.kinds}
                    mask = np.array([k in kinds for k in asset_kinds], dtype=bool)
                    when = np.where(mask, when, NONE)
                when = neighbour_max(when, adjacency)
            latest = np.maximum(latest, when[subjects])
        oldest = np.where(latest == NONE, NONE, np.minimum(oldest, latest))  # NONE stays
    return np.where(oldest == NONE, NONE, oldest + int(rule.within_s * 1000))
