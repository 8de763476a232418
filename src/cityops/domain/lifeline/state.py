"""Rule state as named arrays, per series and per asset; exported as one compressed .npz
keyed by series id and asset code, so it survives restarts, registry changes and rule edits.
A ring (the newest entries along its last axis, oldest first, right-aligned) whose width
changed keeps its newest entries; any other array whose shape or type changed starts fresh,
and :attr:`StateArrays.dropped` names it, for the service to log."""

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
        self.dropped: list[str] = []  # arrays the last restore found but could not use

    def add(self, name: str, array: Array, *, ring: Any = None) -> None:
        """``ring``: the array is a ring of the newest entries along its last axis (oldest
        first, right-aligned) and this is its empty value, so a snapshot of another width
        restores its newest entries."""
        # A second array under a name would silently drop the first from every snapshot.
        if name in self.series:
            raise ValueError(f"series state {name!r} is registered twice")
        self.series[name] = array
        if ring is not None:
            self.rings[name] = ring

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
            old_series = {int(s): i for i, s in enumerate(z["__series"])}
            old_assets = {str(c): i for i, c in enumerate(z["__assets"])}
            restored = 0
            for prefix, target, ids, old in (
                ("s:", self.series, [int(s) for s in series_id], old_series),
                ("a:", self.assets, asset_codes, old_assets),
            ):
                pairs = [(new, old[i]) for new, i in enumerate(ids) if i in old]  # type: ignore[index]
                if not pairs:
                    continue
                new_idx = np.array([p[0] for p in pairs])
                old_idx = np.array([p[1] for p in pairs])
                for name, array in target.items():
                    key = prefix + name
                    if key not in z.files:
                        continue
                    saved = z[key]
                    if saved.dtype != array.dtype or saved.ndim != array.ndim:
                        self.dropped.append(name)
                    elif saved.shape[1:] == array.shape[1:]:
                        array[new_idx] = saved[old_idx]
                        restored += 1
                    elif prefix == "s:" and name in self.rings and \
                            saved.shape[1:-1] == array.shape[1:-1]:  # fmt: skip
                        array[new_idx] = _rewidth(saved[old_idx], array.shape[-1],
                                                  self.rings[name])  # fmt: skip
                        restored += 1
                    else:
                        self.dropped.append(name)
            return restored


def _rewidth(ring: Array, width: int, empty: Any) -> Array:
    """A right-aligned ring at another width: its newest ``width`` entries, or padded on the
    left (the old end) with ``empty``."""
    have = ring.shape[-1]
    if have >= width:
        return ring[..., have - width:]
    pad = np.full((*ring.shape[:-1], width - have), empty, dtype=ring.dtype)
    return np.concatenate([pad, ring], axis=-1)
