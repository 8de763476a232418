"""Rule state as named arrays, per series and per asset; exported as one compressed .npz
keyed by series id and asset code, so it survives restarts, registry changes and rule edits.
A ring (the newest entries along its last axis, oldest first, right-aligned) whose width
changed keeps its newest entries; any other array whose shape or type changed starts fresh,
and :attr:`StateArrays.dropped` names it, for the service to log.

An array may hold rows for only some series (``rows``: a span rule's rings, ≈190 B a series,
only for the series the rule covers); it is exported with the ids of its own rows, so a
restore under another rule set fills the rows both cover, starts the newly covered empty
and leaves behind those no longer covered."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]


class StateArrays:
    def __init__(self, n: int) -> None:
        self.n = n
        self.series: dict[str, Array] = {}
        self.assets: dict[str, Array] = {}
        self.rings: dict[str, Any] = {}  # series arrays that are rings → their empty value
        self.rows: dict[str, Array] = {}  # arrays for some series only → the k of each row
        self.dropped: list[str] = []  # arrays the last restore found but could not use

    def add(self, name: str, array: Array, *, ring: Any = None, rows: Array | None = None) -> None:
        """``ring``: the array is a ring of the newest entries along its last axis (oldest
        first, right-aligned) and this is its empty value, so a snapshot of another width
        restores its newest entries. ``rows``: the array has a row for these series k only
        (ascending), not for all ``n``."""
        # A second array under a name would silently drop the first from every snapshot.
        if name in self.series:
            raise ValueError(f"series state {name!r} is registered twice")
        if len(array) != (self.n if rows is None else len(rows)):
            raise ValueError(f"series state {name!r} has {len(array)} rows")
        self.series[name] = array
        if ring is not None:
            self.rings[name] = ring
        if rows is not None:
            self.rows[name] = rows

    def add_asset(self, name: str, array: Array) -> None:
        if name in self.assets:
            raise ValueError(f"asset state {name!r} is registered twice")
        self.assets[name] = array

    def __getitem__(self, name: str) -> Array:
        return self.series[name]

    def asset(self, name: str) -> Array:
        return self.assets[name]

    def export(self, series_id: npt.NDArray[np.int64], asset_codes: list[str]) -> bytes:
        out = io.BytesIO()
        arrays = {f"s:{k}": v for k, v in self.series.items()} | {
            f"a:{k}": v for k, v in self.assets.items()
        }
        arrays |= {f"r:{k}": series_id[rows] for k, rows in self.rows.items()}
        arrays["__series"] = series_id
        arrays["__assets"] = np.array(asset_codes, dtype=str)
        np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
        return out.getvalue()

    def restore(self, data: bytes, series_id: npt.NDArray[np.int64],
                asset_codes: list[str]) -> int:  # fmt: skip
        """Copy what matches into the arrays in place; returns how many arrays were restored.
        Arrays in the snapshot that no longer fit are named in :attr:`dropped`."""
        self.dropped = []
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            found = set(z.files)
            every = _pairs(series_id, z["__series"])  # arrays with a row per series
            restored = 0
            for name, array in self.series.items():
                if "s:" + name not in found:
                    continue
                pairs = every
                if name in self.rows or "r:" + name in found:  # some series only, now or then
                    own = series_id[self.rows[name]] if name in self.rows else series_id
                    pairs = _pairs(own, z["r:" + name] if "r:" + name in found else
                                   z["__series"])  # fmt: skip
                restored += self._copy(name, array, z["s:" + name], pairs, self.rings.get(name))
            codes = _pairs(np.array(asset_codes, dtype=str), z["__assets"])
            for name, array in self.assets.items():
                if "a:" + name in found:
                    restored += self._copy(name, array, z["a:" + name], codes, None)
            return restored

    def _copy(self, name: str, array: Array, saved: Array, pairs: tuple[Array, Array],
              ring: Any) -> int:  # fmt: skip
        """The saved rows into ``array`` (1) or nothing (0); a misfit is named in
        :attr:`dropped`."""
        new_idx, old_idx = pairs
        if not len(new_idx):
            return 0
        if saved.dtype != array.dtype or saved.ndim != array.ndim:
            self.dropped.append(name)
            return 0
        if saved.shape[1:] == array.shape[1:]:
            array[new_idx] = saved[old_idx]
            return 1
        if ring is not None and saved.shape[1:-1] == array.shape[1:-1]:
            array[new_idx] = _rewidth(saved[old_idx], array.shape[-1], ring)
            return 1
        self.dropped.append(name)
        return 0


def _pairs(ids: Array, saved_ids: Array) -> tuple[Array, Array]:
    """(row in the new array, row in the saved one) of every id both have (ids are unique)."""
    _, new_idx, old_idx = np.intersect1d(ids, saved_ids, assume_unique=True,
                                         return_indices=True)  # fmt: skip
    return new_idx, old_idx


def _rewidth(ring: Array, width: int, empty: Any) -> Array:
    """A right-aligned ring at another width: its newest ``width`` entries, or padded on the
    left (the old end) with ``empty``."""
    have = ring.shape[-1]
    if have >= width:
        return ring[..., have - width:]
    pad = np.full((*ring.shape[:-1], width - have), empty, dtype=ring.dtype)
    return np.concatenate([pad, ring], axis=-1)
