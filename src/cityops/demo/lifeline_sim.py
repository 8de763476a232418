"""Sensor traffic for the demo city's lifelines (issue 5 §7), with incidents on a schedule.

Every reading is a pure function of (series, timestamp): the same instant gives the same value
in any process, so the live feed, a backfill, an MQTT publisher and the tests agree. Normal
behaviour: demand-shaped (diurnal) pressure and flow, traffic-shaped bridge strain, noise,
a rare spike (for spike cleaning) and devices now and then offline for half an hour.

One incident per ``incident_every_s`` period, cycling through:

- ``gas_leak`` — methane (%LEL) rising in the wells beside a gas pipe, coupled with a
  pressure drop on that pipe;
- ``water_burst`` — a water main's pressure collapses within two minutes, its flow surges;
- ``drainage_overflow`` — a storm over the city (rain on every gauge) and one low crossing's
  water level rising past the kerb;
- ``bridge_overload`` — strain and deflection of one bridge span climbing, vibration up.

Devices on an incident's assets report every minute while it lasts (加密上报). Messages are
SenML packs (one device, bare metric names, the device named by the transport: the MQTT topic
or ``RawMessage.device``) fed to the same pipeline as every other transport.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import orjson

from cityops.domain.lifeline.assets import AssetSpec, DeviceSpec

log = logging.getLogger(__name__)

INCIDENTS = ("gas_leak", "water_burst", "drainage_overflow", "bridge_overload")
_MASK = (1 << 64) - 1
_JAN_2026 = 1_767_225_600.0  # totalisers count from here
_OFFLINE_BLOCK_S = 1800.0
_OFFLINE_P = 0.01
_SPIKE_P = 0.002


def _u(*xs: int) -> float:
    """A uniform number in [0, 1) from integers (splitmix64-style): deterministic, cheap."""
    h = 0x9E3779B97F4A7C15
    for x in xs:
        h = ((h ^ (x & _MASK)) * 0xBF58476D1CE4E5B9) & _MASK
        h ^= h >> 31
        h = (h * 0x94D049BB133111EB) & _MASK
        h ^= h >> 29
    return (h >> 11) / 9007199254740992.0


def _bump(h: float, at: float, width: float) -> float:
    d = (h - at + 12) % 24 - 12
    return math.exp(-((d / width) ** 2))


def demand(ts: float) -> float:
    """Water and gas demand (≈0.3–1.3): morning and evening peaks, the night trough."""
    h = (ts / 3600 + 8) % 24  # Asia/Shanghai
    return 0.6 + 0.4 * _bump(h, 7.5, 1.5) + 0.5 * _bump(h, 19.5, 2.0) - 0.3 * _bump(h, 3.5, 2.5)


def traffic(ts: float) -> float:
    h = (ts / 3600 + 8) % 24
    return 0.15 + 0.85 * max(_bump(h, 8.0, 1.5), _bump(h, 18.0, 1.8), 0.45 * _bump(h, 13, 4))


@dataclass(frozen=True, slots=True)
class SimSeries:
    k: int
    d: int  # the device's index (a device goes offline with all its metrics)
    device: str
    metric: str
    unit: str
    interval_s: float
    asset: str
    asset_kind: str
    gateway: str
    phase: float  # the device's sampling phase, s
    base: float  # the series' normal level
    lo: float
    hi: float


@dataclass(frozen=True, slots=True)
class Incident:
    n: int  # the period's number (absolute: any process agrees)
    kind: str
    start: float
    end: float
    assets: tuple[str, ...]  # the assets it affects (a gas pipe and its wells …)

    def progress(self, ts: float) -> float:
        """0 outside; rising to 1 (a burst within two minutes, the others over half the
        incident), then holding until it is over (repaired)."""
        if not self.start <= ts < self.end:
            return 0.0
        ramp = 120.0 if self.kind == "water_burst" else (self.end - self.start) / 2
        return min(1.0, (ts - self.start) / ramp + 0.05)


@dataclass(frozen=True, slots=True)
class SimMessage:
    gateway: str
    device: str
    payload: bytes  # a SenML pack, bare metric names
    points: int


class LifelineSim:
    def __init__(self, assets: list[AssetSpec], devices: list[DeviceSpec], *, seed: int = 5,
                 incident_every_s: float = 600.0) -> None:  # fmt: skip
        self.seed = seed
        self.every = incident_every_s
        kind_of = {a.code: str(a.kind) for a in assets}
        self.series: list[SimSeries] = []
        for d_i, d in enumerate(devices):
            phase = _u(seed, d_i, 1) * min(m.interval_s for m in d.metrics)
            for m in d.metrics:
                k = len(self.series)
                base = self._base(kind_of[d.asset], m.name, _u(seed, k, 2))
                lo = -math.inf if m.range_min is None else m.range_min
                hi = math.inf if m.range_max is None else m.range_max
                self.series.append(SimSeries(k, d_i, d.code, m.name, m.unit, m.interval_s, d.asset,
                                             kind_of[d.asset], d.gateway or "gw", phase, base,
                                             lo, hi))  # fmt: skip
        self.by_device: dict[str, list[SimSeries]] = {}
        for s in self.series:
            self.by_device.setdefault(s.device, []).append(s)
        metered = {s.asset for s in self.series if s.metric == "flow"}
        self._targets: dict[str, list[tuple[str, ...]]] = {
            "gas_leak": [(a.code, *a.adjacent) for a in assets
                         if str(a.kind) == "gas_pipe" and a.adjacent],
            "water_burst": [(a.code,) for a in assets
                            if str(a.kind) == "water_main" and a.code in metered],
            "drainage_overflow": [(a.code,) for a in assets if str(a.kind) == "drainage_node"],
            "bridge_overload": [(a.code,) for a in assets if str(a.kind) == "bridge_span"],
        }  # fmt: skip
        self._drainage = {a for (a,) in self._targets["drainage_overflow"]}

    @classmethod
    def demo(cls, **kw: float) -> LifelineSim:
        from cityops.demo.city import generate_demo_city
        from cityops.demo.gazetteer import generate_gazetteer
        from cityops.demo.lifeline import generate_lifeline

        city = generate_demo_city()
        b = generate_lifeline(city, generate_gazetteer(city))
        return cls(b.assets, b.devices, **kw)  # type: ignore[arg-type]

    @staticmethod
    def _base(kind: str, metric: str, u: float) -> float:
        return {
            ("water_main", "pressure"): 0.28 + 0.17 * u, ("water_main", "flow"): 300 + 1200 * u,
            ("water_main", "volume"): 300 + 1200 * u, ("gas_pipe", "pressure"): 0.2 + 0.2 * u,
            ("gas_pipe", "flow"): 1500 + 6000 * u, ("bridge_span", "strain"): 80 + 80 * u,
            ("bridge_span", "deflection"): 3 + 3 * u, ("bridge_span", "vibration"): 40 + 40 * u,
            ("bridge_span", "frequency"): 2.2 + 0.6 * u, ("drainage_node", "level"): 0.05 + 0.1 * u,
        }.get((kind, metric), {"temp": 16 + 5 * u, "humidity": 60 + 15 * u, "o2": 20.9,
                               "rain": 0.0, "ch4": 0.3 * u}.get(metric, u))  # fmt: skip

    # ------------------------------------------------------------------ incidents

    def incident(self, n: int) -> Incident:
        kind = INCIDENTS[n % len(INCIDENTS)]
        targets = self._targets[kind]
        assets = targets[int(_u(self.seed, n, 3) * len(targets))] if targets else ()
        start = n * self.every + 0.1 * self.every
        return Incident(n, kind, start, start + 0.6 * self.every, assets)

    def incidents(self, t0: float, t1: float) -> list[Incident]:
        first, last = int(t0 // self.every), int(t1 // self.every)
        found = (self.incident(n) for n in range(first, last + 1))
        return [i for i in found if i.start < t1 and i.end > t0 and i.assets]

    # ------------------------------------------------------------------ values

    def value(self, s: SimSeries, ts: float, active: list[Incident] | None = None) -> float | None:
        """The reading of ``s`` at ``ts``; None while its device is offline."""
        active = self.incidents(ts, ts + 1e-6) if active is None else active
        hit = [i for i in active if s.asset in i.assets or
               (i.kind == "drainage_overflow" and s.asset in self._drainage)]  # fmt: skip
        if not hit and _u(self.seed, s.d, int(ts // _OFFLINE_BLOCK_S), 4) < _OFFLINE_P:
            return None
        its = int(ts)
        noise = (_u(self.seed, s.k, its, 5) + _u(self.seed, s.k, its, 6) +
                 _u(self.seed, s.k, its, 7) - 1.5) * 2  # ≈ N(0, 1)  # fmt: skip
        v = self._normal(s, ts, noise)
        for inc in hit:
            v = self._incident(s, inc, inc.progress(ts), v)
        if not hit and _u(self.seed, s.k, its, 8) < _SPIKE_P:  # a glitch, for spike cleaning
            v += (abs(v) + 1.0) * (2.0 if _u(self.seed, s.k, its, 9) < 0.5 else -0.8)
        return round(min(max(v, s.lo), s.hi), 4)

    @staticmethod
    def _normal(s: SimSeries, ts: float, noise: float) -> float:
        m, kind, b = s.metric, s.asset_kind, s.base
        h = (ts / 3600 + 8) % 24
        if m == "pressure":
            water = kind == "water_main"
            return b - (0.08 if water else 0.02) * (demand(ts) - 0.6) + (
                0.003 if water else 0.002) * noise  # fmt: skip
        if m == "flow":
            return b * demand(ts) * (1 + 0.02 * noise)
        if m == "volume":
            return b * 0.75 * (ts - _JAN_2026) / 3600
        if m == "ch4":
            return max(0.0, (0.4 if kind != "tunnel_section" else 0.1) + 0.25 * noise)
        if m == "temp":
            return (21.0 if kind == "tunnel_section" else 16.0) + 2 * math.sin(
                (h - 9) / 24 * 2 * math.pi) + 0.2 * noise  # fmt: skip
        if m == "humidity":
            return 68 + 3 * noise
        if m == "o2":
            return 20.9 + 0.05 * noise
        if m == "level":
            return b + 0.01 * noise
        if m == "rain":
            return 0.0
        if m == "strain":
            return b + 220 * traffic(ts) + 8 * noise
        if m == "deflection":
            return b + 9 * traffic(ts) + 0.3 * noise
        if m == "vibration":
            return b + 300 * traffic(ts) * (1 + 0.3 * noise)
        if m == "frequency":
            return b + 0.01 * noise
        return b + 0.01 * noise

    def _incident(self, s: SimSeries, inc: Incident, p: float, v: float) -> float:
        m = s.metric
        if inc.kind == "gas_leak":
            if m == "ch4":
                return v + 45 * p * (0.8 + 0.4 * _u(self.seed, inc.n, s.k, 10))
            if m == "pressure":
                return v * (1 - 0.3 * p)
        elif inc.kind == "water_burst":
            if m == "pressure":
                return v * (1 - 0.65 * p)
            if m == "flow":
                return v * (1 + 1.6 * p)
        elif inc.kind == "drainage_overflow":
            if m == "rain":
                return 6.0 * p * (0.7 + 0.6 * _u(self.seed, inc.n, s.k, 11))
            if m == "level":  # the low crossing overflows (2 m, the rule's default height)
                return v + (2.3 if s.asset in inc.assets else 0.25) * p
        elif inc.kind == "bridge_overload":
            if m == "strain":
                return v + 1900 * p
            if m == "deflection":
                return v + 60 * p
            if m == "vibration":
                return v * (1 + 3 * p)
        return v

    # ------------------------------------------------------------------ traffic

    def samples(self, t0: float, t1: float) -> Iterator[tuple[SimSeries, float, float]]:
        """Every reading due in [t0, t1): (series, ts, value), device by device."""
        active = self.incidents(t0, t1)
        busy = {a for i in active for a in i.assets}
        if any(i.kind == "drainage_overflow" for i in active):
            busy |= self._drainage
        for s in self.series:
            fine = s.asset in busy and s.interval_s > 60
            step = 60.0 if fine else s.interval_s
            n = math.ceil((t0 - s.phase) / step)
            ts = s.phase + n * step
            while ts < t1:
                on_base = not fine or (ts - s.phase) % s.interval_s < 1e-6
                here = [i for i in active if i.start <= ts < i.end]
                if on_base or here:
                    v = self.value(s, ts, here)
                    if v is not None:
                        yield s, round(ts, 3), v
                ts += step

    def messages(self, t0: float, t1: float) -> list[SimMessage]:
        """One SenML pack per device with what it measured in [t0, t1)."""
        packs: dict[str, list[dict[str, object]]] = {}
        seen: dict[str, set[str]] = {}
        gateways: dict[str, str] = {}
        first: dict[str, float] = {}
        for s, ts, v in self.samples(t0, t1):
            pack = packs.setdefault(s.device, [])
            if not pack:
                pack.append({"bt": ts, "n": s.metric, "u": s.unit, "v": v})
                seen[s.device] = {s.metric}
                first[s.device] = ts
                gateways[s.device] = s.gateway
                continue
            bt = first[s.device]
            record: dict[str, object] = {"n": s.metric, "t": round(ts - bt, 3), "v": v}
            if s.metric not in seen[s.device]:
                seen[s.device].add(s.metric)
                record["u"] = s.unit
            pack.append(record)
        return [SimMessage(gateways[d], d, orjson.dumps(p), len(p)) for d, p in packs.items()]

    def bench_messages(self, n: int, records: int, end: float, start_round: int = 0
                       ) -> Iterator[SimMessage]:  # fmt: skip
        """``n`` packs of exactly ``records`` points each (one device, its metrics over
        successive sampling intervals), round-robin over the devices, every (device, metric,
        ts) distinct, the last before ``end``: the benchmark's load. Values: the series'
        normal level with a slow drift and a little noise, as the rules see normal traffic
        (the model's full price is not what is being measured)."""
        devices = list(self.by_device.items())
        rounds = start_round + n // len(devices) + 1
        for j in range(n):
            device, series = devices[j % len(devices)]
            r = start_round + j // len(devices)  # forward in time, as devices send
            steps = math.ceil(records / len(series))
            every = min(s.interval_s for s in series)
            t_first = end - (rounds - r) * steps * every
            pack: list[dict[str, object]] = []
            for i in range(records):
                s = series[i % len(series)]
                step = i // len(series)
                drift = math.sin((t_first + step * every) / 3600 + i % len(series))  # ±0.2 %
                noise = (((r * steps + step) * 13 + j) % 41 - 20) / 20  # ±0.05 %
                v = min(max(s.base * (1 + 0.002 * drift + 0.0005 * noise), s.lo), s.hi)
                rec: dict[str, object] = {"n": s.metric, "v": round(v, 4)}
                if i == 0:
                    rec["bt"] = t_first
                elif step:
                    rec["t"] = step * every
                pack.append(rec)
            yield SimMessage(series[0].gateway, device, orjson.dumps(pack), records)

    def bench_span_s(self, n: int, records: int) -> float:
        """How far before ``end`` the first point of :meth:`bench_messages` lies."""
        rounds = n // len(self.by_device) + 1
        return max(math.ceil(records / len(series)) * min(s.interval_s for s in series)
                   for series in self.by_device.values()) * rounds  # fmt: skip

    def run_live(self, stop: threading.Event, emit: Callable[[SimMessage, float], object],
                 clock: Callable[[], float], tick_s: float = 5.0) -> None:  # fmt: skip
        """Emit what became due every ``tick_s`` until ``stop`` is set."""
        last = clock() - tick_s
        while not stop.is_set():
            now = clock()
            try:
                for message in self.messages(last, now):
                    emit(message, now)
            except Exception:  # the demo keeps going; the log says why
                log.exception("lifeline simulator tick failed")
            last = now
            stop.wait(tick_s)
