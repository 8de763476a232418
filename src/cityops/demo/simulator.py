"""The demo city's traffic: reports through the channels and cases driven through the workflow.

Each new case draws a scenario (on time, late, returned, reworked, extended, suspended,
invalid …) and the simulator plays it out by acting as the demo users, through the same
services the API uses. ``backfill`` replays past days on a simulated clock so the evaluation
has numbers at once; ``run_live`` keeps the city moving in real time.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from cityops.adapters.db.models import UserRow
from cityops.bootstrap import App
from cityops.demo.city import DemoCity
from cityops.demo.gazetteer import generate_gazetteer
from cityops.demo.phrases import category_weights, report_text
from cityops.domain.errors import CityOpsError
from cityops.domain.model import CaseState, Channel, RegionLevel, Role
from cityops.domain.taxonomy import load_default_taxonomy
from cityops.domain.workflow import Command
from cityops.service.auth import _principal
from cityops.service.intake import ReportInput, submit
from cityops.service.principal import Principal
from cityops.service.sweeper import sweep
from cityops.service.workflow import act

log = logging.getLogger(__name__)

SCENARIOS = (  # (name, weight)
    ("on_time", 50), ("late", 12), ("returned", 8), ("reworked", 8), ("extended", 6),
    ("suspended", 3), ("invalid", 7), ("supervised", 4), ("unrated", 2),
)  # fmt: skip
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


@dataclass
class Plan:
    """A case's scenario and the next step the simulator will take, and when."""

    case_id: int
    scenario: str
    street: str
    department_code: str | None
    next_at: datetime
    step: int = 0
    category: str | None = None  # what the problem really is (a hotline call does not say)


@dataclass
class Simulator:
    app: App
    city: DemoCity
    rng: random.Random = field(default_factory=lambda: random.Random(2026))
    time_scale: float = 1.0  # 1.0: delays in real hours; live mode shrinks them
    plans: dict[int, Plan] = field(default_factory=dict)
    counter: int = 0

    def __post_init__(self) -> None:
        self.gazetteer = generate_gazetteer(self.city)
        with self.app.reads() as s:
            users = s.scalars(select(UserRow)).all()
            self.people: dict[str, Principal] = {u.username: _principal(u) for u in users}
        self.inspectors = {
            p.scope_code: p for p in self.people.values() if p.role is Role.INSPECTOR
        }
        snap = self.app.reference.get()
        taxonomy = {c.key: c for c in load_default_taxonomy().categories}
        active = [k for k in sorted(snap.categories) if snap.categories[k].active]
        self.categories = [taxonomy[k] for k in active if k in taxonomy]
        self.weights = category_weights(self.categories)
        self.grids = [g.code for g in self.city.of_level(RegionLevel.GRID)]

    # ---------------------------------------------------------------- intake

    def report(self, now: datetime) -> int | None:
        self.counter += 1
        rng = self.rng
        category = rng.choices(self.categories, weights=self.weights)[0]
        grid = rng.choice(self.grids)
        lon, lat = self.city.sample_point(grid, rng)
        channel = rng.choices(
            [Channel.INSPECTOR, Channel.HOTLINE, Channel.CITIZEN], weights=[5, 3, 2]
        )[0]
        who = {
            Channel.INSPECTOR: self.inspectors[grid[:9]],
            Channel.HOTLINE: self.people["acceptor"],
            Channel.CITIZEN: self.people["citizen"],
        }[channel]
        name = rng.choice(SURNAMES) + rng.choice(["先生", "女士"])
        phone = f"13{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}"
        source = f"sim-{now:%Y%m%d%H%M%S}-{self.counter}"
        plate = self.gazetteer.near(lon, lat)
        address = f"{plate['district'] or ''}{plate['street'] or ''}{plate['name']}附近"
        text = report_text(category, rng, plate["name"], channel is Channel.INSPECTOR)
        # A 12345 call says what is wrong, not which category it is: the classifier decides.
        told = None if channel is Channel.HOTLINE else category.key
        # A third of hotline callers give only an address: the geocoder places those.
        by_address = channel is Channel.HOTLINE and rng.random() < 0.33
        report = ReportInput(
            channel=channel,
            source_id=source,
            raw=json.dumps({"sim": source, "category": told, "text": text}, ensure_ascii=False),
            description=text,
            category=told,
            lon=None if by_address else lon,
            lat=None if by_address else lat,
            address=address,
            reporter_name=name if channel is not Channel.INSPECTOR else None,
            reporter_phone=phone if channel is not Channel.INSPECTOR else None,
            reporter_user_id=who.user_id if channel is not Channel.HOTLINE else None,
            extra={"appeal_type": "投诉"} if channel is Channel.HOTLINE else {},
        )
        try:
            result = submit(self._at(now), report, who)
        except CityOpsError as exc:
            log.warning("simulated report refused: %s", exc.message)
            return None
        if not result.created:  # merged into a case the simulator already plays out
            return result.case_id
        scenario = rng.choices([s for s, _ in SCENARIOS], weights=[w for _, w in SCENARIOS])[0]
        fast = result.state != CaseState.REPORTED.value  # the urgent fast path dispatched it
        self.plans[result.case_id] = Plan(
            result.case_id,
            "on_time" if fast and scenario == "invalid" else scenario,
            grid[:9],
            None,
            now + self._delay(0.2, 1.5),
            step=3 if fast else 0,
            category=category.key,
        )
        return result.case_id

    # ---------------------------------------------------------------- workflow

    def _at(self, now: datetime) -> App:
        return replace(self.app, clock=lambda: now)

    def _delay(self, low: float, high: float) -> timedelta:
        return timedelta(hours=self.rng.uniform(low, high) * self.time_scale)

    def advance(self, now: datetime) -> int:
        """Take every planned step that is due; returns how many steps were taken."""
        taken = 0
        for plan in [p for p in self.plans.values() if p.next_at <= now]:
            try:
                done = self._step(plan, self._at(plan.next_at))
            except CityOpsError as exc:
                log.debug("simulated step refused for case %s: %s", plan.case_id, exc.message)
                done = True
            taken += 1
            if done:
                self.plans.pop(plan.case_id, None)
        return taken

    def _step(self, plan: Plan, app: App) -> bool:
        p, rng, s = self.people, self.rng, plan.scenario
        acceptor, leader, dispatcher = p["acceptor"], p["leader"], p["dispatcher"]
        inspector = self.inspectors[plan.street]
        at = app.clock()

        def do(who: Principal, action: str, **kw: object) -> None:
            act(app, plan.case_id, who, Command(action, **kw))  # type: ignore[arg-type]

        def later(low: float, high: float) -> bool:
            plan.step += 1
            plan.next_at = at + self._delay(low, high)
            return False

        handler = p.get(f"handler-{plan.department_code}") if plan.department_code else None
        step = plan.step
        if step == 0:
            if s == "invalid":
                do(acceptor, "invalidate", note="重复上报或不属于城市管理范围")
                return True
            if plan.category and self._detail(plan.case_id)["category"] != plan.category:
                # The acceptor chooses the category the machine could not (or got wrong).
                do(acceptor, "amend", note="受理员人工分类", data={"category": plan.category})
            do(acceptor, "accept")
            return later(0.3, 2)
        if step == 1:
            detail = self._detail(plan.case_id)
            if detail["channel"] != Channel.INSPECTOR.value:
                do(inspector, "verify", note="现场核实属实")
            return later(0.1, 1)
        if step == 2:
            do(acceptor, "open")
            return later(0.1, 0.8)
        if step == 3:
            detail = self._detail(plan.case_id)
            if detail["state"] == "opened":
                routing: dict[str, Any] = detail.get("routing") or {}
                if not routing:
                    do(leader, "suspend", note="无责任部门，挂账待定")
                    return True
                do(dispatcher, "dispatch", department_id=routing["department_id"])
            dept = self.app.reference.get().departments_by_id[
                self._detail(plan.case_id)["department_id"]
            ]
            plan.department_code = dept.code
            return later(0.2, 2)
        if step == 4:
            if s == "returned" and handler:
                do(handler, "return", note="不属于本单位职责，申请回退")
                do(dispatcher, "dispatch", department_id=self._fallback_department(plan))
                plan.department_code = self._dept_code(plan)
                plan.scenario = "on_time"
                return later(0.5, 3)
            do(handler or leader, "start")
            if s == "extended":
                do(
                    handler or leader,
                    "request_extension",
                    note="需协调施工队，申请延期",
                    extension="2wd",
                )
                do(leader, "approve_extension")
            if s == "supervised":
                do(p["commander"], "supervise", note="群众反映强烈，请加快处置")
            if s == "suspended":
                do(leader, "suspend", note="涉及产权纠纷，暂时挂账")
                plan.step = 40
                return later(4, 24)
            hours = (30, 90) if s == "late" else (1, 20)
            return later(*hours)
        if step == 5:
            do(
                handler or leader,
                "complete",
                note="已处置完毕，恢复原状",
                media=("photo://result",),
            )
            return later(0.5, 4)
        if step == 6:
            if s == "reworked":
                plan.scenario = "on_time"
                do(inspector, "check_fail", note="现场核查未处置到位，返工")
                plan.step = 4
                return later(2, 12)
            do(inspector, "check_pass", note="核查通过")
            return later(0.1, 1)
        if step == 7:
            do(acceptor, "close")
            if s == "unrated" or self._detail(plan.case_id)["channel"] != Channel.CITIZEN.value:
                return True
            return later(2, 48)
        if step == 8:
            do(p["citizen"], "rate", rating=rng.choices([5, 4, 3, 2], weights=[6, 3, 1, 1])[0])
            return True
        if step == 41:
            do(leader, "resume")
            plan.step = 4
            plan.scenario = "on_time"
            return later(1, 12)
        return True

    def _detail(self, case_id: int) -> dict[str, Any]:
        from cityops.service.queries import case_detail

        return case_detail(self.app, self.people["leader"], case_id)

    def _dept_code(self, plan: Plan) -> str:
        detail = self._detail(plan.case_id)
        return self.app.reference.get().departments_by_id[int(str(detail["department_id"]))].code

    def _fallback_department(self, plan: Plan) -> int:
        """After a 回退 the dispatcher picks another unit of the same district."""
        snap = self.app.reference.get()
        options = [
            d
            for d in snap.departments_by_id.values()
            if d.code != plan.department_code and d.level == "district"
        ]
        return self.rng.choice(options).id

    # ---------------------------------------------------------------- drivers

    def backfill(self, start: datetime, end: datetime, per_day: int = 40) -> int:
        """Replay [start, end) on a simulated clock, step one simulated 10 minutes at a time."""
        now, tick, reports = start, timedelta(minutes=10), 0
        per_tick = per_day / (24 * 6)
        while now < end:
            arrivals = self._poisson(per_tick * self._daytime(now))
            for _ in range(arrivals):
                reports += self.report(now) is not None
            self.advance(now)
            if now.minute == 0:
                sweep(self._at(now))
            now += tick
        return reports

    def _daytime(self, now: datetime) -> float:
        hour = now.astimezone(self.app.settings.tz).hour
        return 2.0 if 8 <= hour < 20 else 0.3

    def _poisson(self, lam: float) -> int:
        k, p, threshold = 0, 1.0, pow(2.718281828459045, -lam)
        while True:
            p *= self.rng.random()
            if p <= threshold:
                return k
            k += 1

    def run_live(self, stop: threading.Event, rate: float, clock: Callable[[], datetime]) -> None:
        """Real time: ``rate`` reports a second on average; cases move in minutes, not hours."""
        self.time_scale = 1 / 60
        last_sweep = clock()
        while not stop.wait(self.rng.expovariate(rate) if rate > 0 else 1.0):
            now = clock()
            try:
                if rate > 0:
                    self.report(now)
                self.advance(now)
                if now - last_sweep > timedelta(minutes=1):
                    sweep(self._at(now))
                    last_sweep = now
            except Exception:  # the simulator must never take the server down
                log.exception("simulator step failed")
