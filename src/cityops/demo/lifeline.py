"""The demo city's lifeline network (城市生命线): pipes along its roads, wells beside the gas
pipes, drainage nodes, three bridges and a utility tunnel, with their sensors.

Deterministic from the gazetteer's roads. Gas (中压 0.2–0.4 MPa) runs under the first six
east–west and north–south roads, water mains (0.28–0.45 MPa) under the others; every gas
segment (~2 km) has a pressure transmitter, every third a flow meter, and two neighbouring
wells (sewer, cable or telecom — where leaked gas gathers) carry methane detectors in %LEL,
as in Hefei's monitoring of "adjacent underground spaces". Drainage nodes sit at the low
crossings with level gauges; bridges carry strain, deflection and vibration sensors; the
utility tunnel under 华泾路 has temperature, humidity, O₂ and CH₄ per section.
"""

from __future__ import annotations

import random
from typing import Any

from shapely.geometry import LineString, shape

from cityops.bootstrap import App
from cityops.demo.city import DemoCity
from cityops.demo.gazetteer import Gazetteer
from cityops.domain.lifeline.assets import AssetKind, AssetSpec, DeviceSpec, MetricSpec
from cityops.service.admin import ImportResult

_SEGMENT = 0.02  # degrees (~2 km) per pipe segment
_SIDE = 0.00004  # pipes ~4 m off the centre line; gas north/east, water south/west
_WELL = 0.00007
_WELL_KINDS = ((AssetKind.SEWER_WELL, "water", "污水井"), (AssetKind.CABLE_WELL, "power", "电力井"),
               (AssetKind.MANHOLE, "telecom", "通信井"))  # fmt: skip
_GATEWAY = {"gas": "gw-gas", "water": "gw-water", "power": "gw-power", "telecom": "gw-telecom",
            "roads": "gw-roads"}  # fmt: skip


def _m(name: str, unit: str, interval: float, lo: float | None = None, hi: float | None = None,
       offset: float = 0.0) -> MetricSpec:  # fmt: skip
    return MetricSpec(name, unit, interval, 1.0, offset, lo, hi)


def _line(coords: list[tuple[float, float]]) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [[round(x, 6), round(y, 6)] for x, y in coords]}


def _point(x: float, y: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(x, 6), round(y, 6)]}


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.assets: list[AssetSpec] = []
        self.devices: list[DeviceSpec] = []
        self.serial: dict[str, int] = {}

    def code(self, prefix: str) -> str:
        self.serial[prefix] = self.serial.get(prefix, 0) + 1
        return f"SJ-{prefix}-{self.serial[prefix]:04d}"

    def asset(self, prefix: str, kind: AssetKind, name: str, owner: str, geometry: dict[str, Any],
              adjacent: tuple[str, ...] = (), **attributes: Any) -> str:  # fmt: skip
        code = self.code(prefix)
        self.assets.append(AssetSpec(code, kind, name, owner, geometry, attributes, adjacent))
        return code

    def device(self, prefix: str, asset: str, name: str, kind: str, owner: str,
               *metrics: MetricSpec) -> None:  # fmt: skip
        self.devices.append(DeviceSpec(self.code(prefix), asset, name, metrics, kind,
                                       gateway=_GATEWAY[owner]))  # fmt: skip


def _pipes(b: _Builder, road: dict[str, Any], gas: bool) -> None:
    line = LineString(shape(road["geometry"]).coords)
    east_west = abs(line.coords[0][1] - line.coords[-1][1]) < 1e-9
    n = max(1, round(line.length / _SEGMENT))
    side = _SIDE if gas else -_SIDE
    dx, dy = (0.0, side) if east_west else (side, 0.0)
    for i in range(n):
        a = line.interpolate(i / n, normalized=True)
        c = line.interpolate((i + 1) / n, normalized=True)
        geometry = _line([(a.x + dx, a.y + dy), (c.x + dx, c.y + dy)])
        where = f"{road['name']}第{i + 1}段"
        if not gas:
            main = b.asset("WM", AssetKind.WATER_MAIN, f"{where}供水干管", "water", geometry,
                           material="球墨铸铁", diameter_mm=b.rng.choice((300, 400, 600)))
            zero = round(b.rng.uniform(-0.003, 0.003), 4)  # the transmitter's calibrated offset
            b.device("WP", main, f"{where}管网压力计", "pressure transmitter", "water",
                     _m("pressure", "MPa", 60, 0, 1.6, zero))
            if i % 2 == 0:
                b.device("WF", main, f"{where}电磁流量计", "flow meter", "water",
                         _m("flow", "m3/h", 60, 0, 5000), _m("volume", "m3", 900, 0))  # fmt: skip
            continue
        wells = []
        for j, frac in enumerate((1 / 3, 2 / 3)):
            at = line.interpolate((i + frac) / n, normalized=True)
            kind, owner, label = _WELL_KINDS[(i * 2 + j) % len(_WELL_KINDS)]
            wx, wy = (at.x, at.y + _WELL) if east_west else (at.x + _WELL, at.y)
            well = b.asset("WL", kind, f"{where}{label}{j + 1}", owner, _point(wx, wy),
                           depth_m=round(b.rng.uniform(1.5, 3.5), 1))  # fmt: skip
            wells.append(well)
            b.device("CH4", well, f"{where}{label}{j + 1}可燃气体监测仪", "methane detector",
                     owner, _m("ch4", "%{LEL}", 300, 0, 100),
                     _m("temp", "Cel", 300, -30, 80))
        pipe = b.asset("GP", AssetKind.GAS_PIPE, f"{where}中压燃气管", "gas", geometry,
                       tuple(wells), pressure_class="中压A", material="PE",
                       diameter_mm=b.rng.choice((160, 200, 250)))  # fmt: skip
        b.device("GPT", pipe, f"{where}燃气压力监测", "pressure transmitter", "gas",
                 _m("pressure", "MPa", 60, 0, 0.8))  # fmt: skip
        if i % 3 == 0:
            b.device("GFM", pipe, f"{where}燃气流量计", "flow meter", "gas",
                     _m("flow", "m3/h", 60, 0, 20000))  # fmt: skip


def generate_lifeline(city: DemoCity, gazetteer: Gazetteer, seed: int = 11) -> _Builder:
    del city  # the roads carry the city's geometry already
    b = _Builder(seed)
    roads = [e for e in gazetteer.entries if e["kind"] == "road"]
    east_west, north_south = roads[:12], roads[12:]
    for k, road in enumerate(east_west + north_south):
        _pipes(b, road, gas=(k % 12) < 6)
    for k, road in enumerate(east_west[1::2]):  # low points where every other road crosses
        line = LineString(shape(road["geometry"]).coords)
        for other in north_south[k % 3 :: 3]:
            at = line.intersection(LineString(shape(other["geometry"]).coords))
            if at.geom_type != "Point":
                continue
            where = f"{road['name']}{other['name']}路口"
            node = b.asset("DN", AssetKind.DRAINAGE_NODE, f"{where}易涝点", "water",
                           _point(at.x, at.y), catchment_ha=b.rng.choice((12, 18, 25)))
            b.device("WLV", node, f"{where}积水监测", "water level gauge", "water",
                     _m("level", "m", 60, 0, 5), _m("rain", "mm", 300, 0, 300))
    _bridges(b, east_west)
    _tunnel(b, east_west)
    return b


def _bridges(b: _Builder, roads: list[dict[str, Any]]) -> None:
    for k, road in enumerate(roads[2:11:4]):
        line = LineString(shape(road["geometry"]).coords)
        a, c = line.interpolate(0.45, normalized=True), line.interpolate(0.47, normalized=True)
        name = f"{road['name']}{['申江', '浦川', '海湾'][k]}大桥"
        span = b.asset("BR", AssetKind.BRIDGE_SPAN, f"{name}主跨", "roads",
                       _line([(a.x, a.y), (c.x, c.y)]), span_m=120,
                       structure="预应力混凝土连续梁")
        b.device("BSG", span, f"{name}跨中应变计", "strain gauge", "roads",
                 _m("strain", "ustrain", 60, -3000, 3000))  # fmt: skip
        b.device("BDF", span, f"{name}挠度计", "deflection sensor", "roads",
                 _m("deflection", "mm", 60, -500, 500))  # fmt: skip
        b.device("BVB", span, f"{name}振动传感器", "accelerometer", "roads",
                 _m("vibration", "mm/s2", 10, 0, 20000), _m("frequency", "Hz", 60, 0, 50))


def _tunnel(b: _Builder, roads: list[dict[str, Any]]) -> None:
    road = roads[7]
    line = LineString(shape(road["geometry"]).coords)
    for i in range(6):
        a = line.interpolate(0.2 + i * 0.1, normalized=True)
        c = line.interpolate(0.3 + i * 0.1, normalized=True)
        geometry = _line([(a.x, a.y - 0.0001), (c.x, c.y - 0.0001)])
        name = f"{road['name']}综合管廊{i + 1}号舱段"
        section = b.asset("UT", AssetKind.TUNNEL_SECTION, name, "roads", geometry,
                          cabins="电力舱+水信舱+燃气舱")
        b.device("UTE", section, f"{name}环境监测", "environment monitor", "roads",
                 _m("temp", "Cel", 60, -20, 80), _m("humidity", "%RH", 60, 0, 100),
                 _m("o2", "%vol", 60, 0, 30), _m("ch4", "%{LEL}", 60, 0, 100))  # fmt: skip


def load_lifeline(app: App, city: DemoCity, gazetteer: Gazetteer, actor: str) -> ImportResult:
    from cityops.service.telemetry.assets import import_assets, import_devices

    b = generate_lifeline(city, gazetteer)
    import_assets(app, b.assets, [], actor)
    return import_devices(app, b.devices, [], actor)
