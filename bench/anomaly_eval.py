"""The lifeline anomaly detector on real SCADA data: BATADAL (C-Town water network).

Data (read from ../shared/data/batadal, or CITYOPS_SHARED_DATA; skipped with a message when
absent): dataset03 is a year of normal operation, dataset04 has 7 attack windows, fully labelled
in ``ATT_FLAG_relabelled_xwds``. The 43 readings (tank levels, pump flows and statuses, junction
pressures) are the devices of one pumping-station asset and go hour by hour through the
product's rules stage (``Evaluator.process``: spike cleaning, the per-series seasonal baseline,
the joint subspace model), first dataset03 (learning), then dataset04 (online, still learning;
labels never reach the detector). An hour is flagged when any ``anomaly`` alarm key is up.
The configuration is the packaged rule set's ``anomaly`` section with the BATADAL metrics
watched; nothing is tuned on dataset04.

Peer, in the same run: a static 3-sigma band per sensor fitted on dataset03 (flag an hour when
any sensor leaves its band). Prints JSON lines: point-wise F1 (and precision, recall) of the
detector and of its per-series part alone, each beside the peer, with the share of flagged
hours in the second half of dataset03 (normal operation: false alarms); then one line per
attack window: detected, hours from the window's start to the first flag, for both.

    python bench/anomaly_eval.py
"""

from __future__ import annotations

import csv
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from benchdb import emit

from cityops.domain.lifeline.coupled import Adjacency
from cityops.domain.lifeline.evaluate import ANOMALY, Evaluator, SeriesInfo
from cityops.domain.lifeline.ruleset import parse_ruleset
from cityops.service.lifeline.rulesets import default_content

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CITYOPS_SHARED_DATA", REPO.parent / "shared" / "data")) / "batadal"
TRAIN, TEST = "BATADAL_dataset03.csv", "BATADAL_dataset04.csv"
LABEL = "ATT_FLAG_relabelled_xwds"
METRIC = {"L": "level", "F": "flow", "S": "status", "P": "pressure"}
HOUR_MS = 3_600_000


def load(name: str) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray | None]:
    """(epoch ms, sensor names, readings (hours, sensors), labels or None)."""
    with (DATA / name).open(newline="") as f:
        rows = list(csv.reader(f))
    head = [h.strip() for h in rows[0]]
    sensors = [h for h in head[1:] if not h.startswith("ATT_FLAG")]
    cols = [head.index(s) for s in sensors]
    ts = np.array([int(datetime.strptime(r[0].strip(), "%d/%m/%y %H").replace(tzinfo=UTC)
                       .timestamp() * 1000) for r in rows[1:]], dtype=np.int64)  # fmt: skip
    x = np.array([[float(r[c]) for c in cols] for r in rows[1:]])
    labels = np.array([int(r[head.index(LABEL)]) for r in rows[1:]], dtype=bool) \
        if LABEL in head else None  # fmt: skip
    return ts, sensors, x, labels


def evaluator(sensors: list[str], joint: bool) -> Evaluator:
    content = default_content()
    content["rules"] = []  # the anomaly detector alone: no thresholds
    content["anomaly"] = content["anomaly"] | {"metrics": sorted(set(METRIC.values()))}
    # Spike cleaning looks at the last 7 readings: 7 hours here, where a pump's one-hour run
    # is an event, not a spike. Hourly SCADA is configured without it.
    content["cleaning"] = {"min_dev": dict.fromkeys(METRIC.values(), 1e12)}
    if not joint:
        content["anomaly"]["joint_min_series"] = 0
    n = len(sensors)
    info = SeriesInfo(
        series_id=np.arange(n, dtype=np.int64), metric=[METRIC[s[0]] for s in sensors],
        device=sensors, asset_index=np.zeros(n, dtype=np.int64),
        interval_s=np.full(n, 3600.0), asset_codes=["CTOWN-PS"], asset_kinds=["water_main"],
        asset_attributes=[{}], adjacency=Adjacency.of(1, []),
    )  # fmt: skip
    return Evaluator(parse_ruleset(content), info, utc_offset_s=0)


def run(ev: Evaluator, ts: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Feed hour by hour; whether any anomaly key was up in each hour."""
    n = x.shape[1]
    k = np.arange(n, dtype=np.int64)
    flagged = np.zeros(len(ts), dtype=bool)
    for i in range(len(ts)):
        obs, _ = ev.process(k, np.full(n, ts[i], dtype=np.int64), x[i])
        up = obs.key[obs.peak > 0].tolist()
        flagged[i] = any(ev.keys[key][1] == ANOMALY for key in up)
    return flagged


def three_sigma(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    mean, std = train.mean(axis=0), train.std(axis=0)
    return (np.abs(test - mean) > 3 * np.maximum(std, 1e-9)).any(axis=1)


def scores(flag: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    tp, fp = int((flag & truth).sum()), int((flag & ~truth).sum())
    fn = int((~flag & truth).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3)}


def windows(truth: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], truth.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def time_to_detect(flag: np.ndarray, start: int, end: int, ts: np.ndarray) -> float | None:
    hits = np.flatnonzero(flag[start:end])
    return None if not len(hits) else float((ts[start + hits[0]] - ts[start]) / HOUR_MS)


def main() -> None:
    if not (DATA / TRAIN).is_file() or not (DATA / TEST).is_file():
        print(f"BATADAL data not found in {DATA}; set CITYOPS_SHARED_DATA to the folder holding "
              "batadal/ to run this benchmark", file=sys.stderr)  # fmt: skip
        return
    ts3, sensors, x3, _ = load(TRAIN)
    ts4, sensors4, x4, truth = load(TEST)
    assert sensors4 == sensors and truth is not None
    peer = three_sigma(x3, x4)
    peer_s = scores(peer, truth)
    found: dict[str, np.ndarray] = {}
    for label, joint in (("anomaly_f1", True), ("anomaly_f1_per_series", False)):
        ev = evaluator(sensors, joint)
        learning = run(ev, ts3, x3)  # dataset03: normal operation (its flags: false alarms)
        flag = found[label] = run(ev, ts4, x4)
        s = scores(flag, truth)
        emit(label, s["f1"] * 100, "F1 %", "static 3-sigma per sensor", peer_s["f1"] * 100,
             precision=s["precision"], recall=s["recall"], peer_precision=peer_s["precision"],
             peer_recall=peer_s["recall"], hours=len(ts4), attack_hours=int(truth.sum()),
             flagged_hours=int(flag.sum()),
             normal_false_alarm_rate=round(float(learning[len(ts3) // 2 :].mean()), 4))  # fmt: skip
    for i, (start, end) in enumerate(windows(truth), 1):
        line: dict[str, Any] = {"name": "anomaly_window", "window": i,
                                "start": datetime.fromtimestamp(ts4[start] / 1000, UTC)
                                .strftime("%Y-%m-%d %H:00"), "hours": int(end - start)}  # fmt: skip
        for key, flag in (("detector", found["anomaly_f1"]), ("peer", peer)):
            ttd = time_to_detect(flag, start, end, ts4)
            line[f"{key}_detected"], line[f"{key}_ttd_h"] = ttd is not None, ttd
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
