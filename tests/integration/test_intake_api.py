"""The intake API end to end: every channel, its idempotency, its raw payload, its refusals.

Each refusal is checked for three things: the status, the error code, and that nothing was
written (the case count is unchanged and the idempotency key is still free).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from cityops.bootstrap import App
from cityops.demo.city import DEMO_PASSWORD
from tests.conftest import Clock
from tests.helpers import STREET_A, STREET_B, Api, point_in

CHANNELS = ("hotline", "inspector", "citizen", "manual")
# The role each channel is meant for.
SUBMITTER = {"hotline": "acceptor", "inspector": "inspector01", "citizen": "citizen",
             "manual": "acceptor"}  # fmt: skip
# The name each channel gives its description field.
DESCRIPTION = {"hotline": "content", "inspector": "description", "citizen": "description",
               "manual": "description"}  # fmt: skip
REQUIRED = {
    "hotline": ("work_order_no", "appeal_type", "content", "location"),
    "inspector": ("report_id", "category", "description", "location"),
    "citizen": ("client_request_id", "category", "description", "location"),
    "manual": ("description", "location"),
}
PHONE, NAME = "13812345678", "张三"


def body_for(channel: str, key: str, street: str = STREET_A, **over: Any) -> dict[str, Any]:
    """A valid body for the channel; for ``manual`` the key travels in a header instead.

    Each key reports from its own place, so different keys are never merged as duplicates.
    """
    lon, lat, _ = point_in(street, seed=zlib.crc32(key.encode()))
    location = {"lon": lon, "lat": lat}
    body: dict[str, Any]
    if channel == "hotline":
        body = {"work_order_no": key, "appeal_type": "投诉", "content": "小区门口有暴露垃圾",
                "caller_name": NAME, "caller_phone": PHONE, "category": "E0102",
                "location": location}  # fmt: skip
    elif channel == "inspector":
        body = {"report_id": key, "category": "E0102", "description": "路边暴露垃圾一堆",
                "location": location, "photos": ["photo://before.jpg"]}  # fmt: skip
    elif channel == "citizen":
        body = {"client_request_id": key, "category": "E0102", "description": "垃圾没人清",
                "location": location, "contact_name": NAME, "contact_phone": PHONE}  # fmt: skip
    else:
        body = {"category": "E0102", "description": "来访反映门口垃圾堆积", "location": location,
                "reporter_name": NAME, "reporter_phone": PHONE, "source": "来访"}  # fmt: skip
    body.update(over)
    return body


def submit(
    api: Api,
    channel: str,
    body: Any = None,
    *,
    key: str | None = None,
    user: str | None = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST to a channel as its submitter (or ``user``); ``key`` is the manual Idempotency-Key."""
    hdrs = dict(headers or {})
    if channel == "manual" and key is not None:
        hdrs["Idempotency-Key"] = key
    path = f"/api/v1/intake/{channel}"
    who = user or SUBMITTER[channel]
    if content is not None:
        hdrs["Content-Type"] = "application/json"
        return api.client.post(path, content=content, headers={**api.headers(who), **hdrs})
    return api.post(who, path, json=body, headers=hdrs)


def total(api: Api) -> int:
    r = api.get("admin", "/api/v1/cases", params={"limit": 1})
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


def error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code, err
    assert err["message"]
    return dict(err["details"])


# --------------------------------------------------------------------------------------------
# Valid submissions and idempotent resubmission


@pytest.mark.parametrize("channel", CHANNELS)
def test_valid_submission_creates_one_case_and_resubmission_returns_it(
    app: App, channel: str
) -> None:
    api = Api(app)
    before = total(api)
    body = body_for(channel, f"{channel}-0001")

    first = submit(api, channel, body, key="walk-in-0001")
    assert first.status_code == 201, first.text
    out = first.json()
    assert out["created"] is True
    assert re.fullmatch(r"2026111\d\d{6}", out["case_no"]), out["case_no"]
    assert out["state"] == "reported"
    assert total(api) == before + 1

    again = submit(api, channel, body, key="walk-in-0001")
    assert again.status_code == 200, again.text
    assert again.json() == {**out, "created": False}
    assert total(api) == before + 1

    detail = api.get("acceptor", f"/api/v1/cases/{out['case_id']}").json()
    assert detail["case_no"] == out["case_no"]
    assert detail["channel"] == channel
    assert detail["category"] == "E0102"
    assert detail["grid_code"] == point_in(STREET_A, seed=zlib.crc32(f"{channel}-0001".encode()))[2]
    assert len(detail["reports"]) == 1
    assert [e["action"] for e in detail["timeline"]] == ["submit"]

    # A new key is a new report, even with the same content.
    other = submit(api, channel, body_for(channel, f"{channel}-0002"), key="walk-in-0002")
    assert other.status_code == 201, other.text
    assert other.json()["case_id"] != out["case_id"]
    assert other.json()["case_no"] != out["case_no"]
    assert total(api) == before + 2


def test_resubmission_returns_the_case_in_its_current_state(app: App) -> None:
    api = Api(app)
    body = body_for("citizen", "later-1")
    case_id = submit(api, "citizen", body).json()["case_id"]
    assert api.act("acceptor", case_id, "accept").status_code == 200
    again = submit(api, "citizen", body)
    assert again.status_code == 200, again.text
    assert again.json()["case_id"] == case_id
    assert again.json()["state"] == "accepted"
    assert again.json()["created"] is False


def test_the_same_client_id_from_two_inspectors_makes_two_cases(app: App) -> None:
    """An inspector's report_id is theirs: two inspectors may both use '1'."""
    api = Api(app)
    one = submit(api, "inspector", body_for("inspector", "1"), user="inspector01")
    two = submit(api, "inspector", body_for("inspector", "1", STREET_B), user="inspector05")
    assert (one.status_code, two.status_code) == (201, 201), (one.text, two.text)
    assert one.json()["case_id"] != two.json()["case_id"]


# --------------------------------------------------------------------------------------------
# The raw payload is kept byte for byte


def _raw_payload(channel: str) -> str:
    lon, lat, _ = point_in(STREET_A, seed=zlib.crc32(channel.encode()))  # a place per channel
    where = f'{{ "lon" :{lon} ,\n    "lat": {lat}  }}'
    text = '"井盖旁\\u6709垃圾，   味道很大 😷"'  # an escape left as written, odd spacing, emoji
    if channel == "hotline":
        return (
            f'{{\n  "work_order_no" :"HL-原样-1",  "appeal_type":"投诉",\n'
            f'\t"content": {text}, "caller_name":"张三" ,"caller_phone" : "13812345678",\n'
            f'  "category":"E0102", "location": {where},  "来源系统":"12345热线"\n}}'
        )
    key = {"inspector": "report_id", "citizen": "client_request_id"}.get(channel)
    head = f'"{key}":   "原样-1" ,' if key else ""
    return f'{{ {head}  "category" : "E0102",\n"description":{text},\n "location":{where} }}'


def test_raw_payload_is_kept_verbatim(app: App) -> None:
    api = Api(app)
    for channel in CHANNELS:
        raw = _raw_payload(channel)
        json.loads(raw)  # it is valid JSON, just written by hand
        r = submit(api, channel, content=raw.encode("utf-8"), key="原样-key-1".encode().hex())
        assert r.status_code == 201, (channel, r.text)
        detail = api.get("acceptor", f"/api/v1/cases/{r.json()['case_id']}").json()
        assert detail["reports"][0]["raw"] == raw, channel
        # … while the parsed text is what the case shows.
        assert detail["description"] == "井盖旁有垃圾，   味道很大 😷", channel


# --------------------------------------------------------------------------------------------
# Bad input: a clear 4xx, and nothing written
#
# The matrix is checked channel by channel in one test each (one app, many requests): every
# mismatch is collected, so a failure lists all offending inputs at once.

Mutate = Callable[[str, dict[str, Any]], Any]
Check = Callable[[dict[str, Any], str], None]


@dataclass(frozen=True)
class Bad:
    name: str
    mutate: Mutate
    status: int
    code: str
    check: Check = lambda details, channel: None
    raw: bytes | None = None  # sent as is instead of the (mutated) JSON body


def _loc(**loc: Any) -> Mutate:
    return lambda channel, body: {**body, "location": loc}


def _set(field: str | Callable[[str], str], value: Any) -> Mutate:
    def mutate(channel: str, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, (field(channel) if callable(field) else field): value}

    return mutate


def _without(field: str) -> Mutate:
    return lambda channel, body: {k: v for k, v in body.items() if k != field}


def _field(field: str, **kw: Any) -> Check:
    def check(details: dict[str, Any], channel: str) -> None:
        assert details.get("field") == field, details
        for k, v in kw.items():
            assert details.get(k) == v, details

    return check


def _problem(field: str | Callable[[str], str]) -> Check:
    def check(details: dict[str, Any], channel: str) -> None:
        name = field(channel) if callable(field) else field
        assert name in [p["field"] for p in details["problems"]], details
        assert all(p["reason"] for p in details["problems"]), details

    return check


def _unused(channel: str, body: dict[str, Any]) -> dict[str, Any]:
    return body  # for raw payloads, which are sent instead of the body


def _desc(channel: str) -> str:
    return DESCRIPTION[channel]


def _json_problem(details: dict[str, Any], channel: str) -> None:
    assert details["problems"], details


_A = point_in(STREET_A)
_B = point_in(STREET_B)

BAD_INPUTS = [
    Bad("unknown_category", _set("category", "E9999"), 422, "validation_failed",
        _field("category")),
    Bad("malformed_category", _set("category", "垃圾"), 422, "invalid_request",
        _problem("category")),
    Bad("outside_city", _loc(lon=116.4, lat=39.9), 422, "validation_failed",
        _field("location", reason="outside_jurisdiction")),
    Bad("lon_without_lat", _loc(lon=_A[0]), 422, "validation_failed", _field("location")),
    Bad("lat_without_lon", _loc(lat=_A[1]), 422, "validation_failed", _field("location")),
    Bad("lon_without_lat_but_grid", _loc(lon=_A[0], grid_code=_A[2]), 422, "validation_failed",
        _field("location")),
    Bad("no_location_at_all", _loc(), 422, "validation_failed", _field("location")),
    Bad("location_null", _set("location", None), 422, "invalid_request", _problem("location")),
    Bad("unknown_grid_code", _loc(grid_code="31990100100199"), 422, "validation_failed",
        _field("grid_code")),
    Bad("grid_code_outside_city", _loc(grid_code="11010100100101"), 422, "validation_failed",
        _field("grid_code")),
    Bad("malformed_grid_code", _loc(grid_code="3199"), 422, "invalid_request",
        _problem("location.grid_code")),
    Bad("grid_code_disagrees_with_coordinates", _loc(lon=_A[0], lat=_A[1], grid_code=_B[2]),
        422, "validation_failed", _field("grid_code")),
    Bad("lon_out_of_range", _loc(lon=200.0, lat=31.3), 422, "invalid_request",
        _problem("location.lon")),
    Bad("lat_not_a_number", _loc(lon=_A[0], lat="north"), 422, "invalid_request",
        _problem("location.lat")),
    Bad("unknown_location_field", _loc(lon=_A[0], lat=_A[1], altitude=3), 422,
        "invalid_request", _problem("location.altitude")),
    Bad("empty_description", _set(_desc, ""), 422, "invalid_request", _problem(_desc)),
    Bad("blank_description", _set(_desc, " \n\t "), 422, "validation_failed",
        _field("description")),
    Bad("description_not_a_string", _set(_desc, {"text": "x"}), 422, "invalid_request",
        _problem(_desc)),
    Bad("description_too_long", _set(_desc, "长" * 5001), 422, "invalid_request",
        _problem(_desc)),
    Bad("body_is_a_list", lambda c, b: [b], 422, "invalid_request"),
    Bad("body_is_empty_object", lambda c, b: {}, 422, "invalid_request", _problem("location")),
    Bad("truncated_json", _unused, 400, "malformed_json", _json_problem,
        raw='{"description": "垃圾",'.encode()),
    Bad("single_quoted_json", _unused, 400, "malformed_json", _json_problem,
        raw=b"{'category': 'E0102'}"),
    Bad("not_json", _unused, 400, "malformed_json", _json_problem, raw=b"not json"),
    Bad("missing_comma", _unused, 400, "malformed_json", _json_problem,
        raw=b'{"description": "x" "location": {}}'),
]  # fmt: skip


def _extra_bad_inputs(channel: str) -> list[Bad]:
    """Per-channel refusals: each required field missing, unknown fields, too many photos."""
    out = [Bad(f"missing_{field}", _without(field), 422, "invalid_request", _problem(field))
           for field in REQUIRED[channel]]  # fmt: skip
    if channel != "hotline":  # the hotline keeps a 12345 system's extra fields, by design
        out.append(Bad("unknown_field", _set("urgent", True), 422, "invalid_request",
                       _problem("urgent")))  # fmt: skip
    if channel in ("inspector", "citizen"):
        ten = [f"photo://{i}.jpg" for i in range(10)]
        out.append(Bad("ten_photos", _set("photos", ten), 422, "invalid_request",
                       _problem("photos")))  # fmt: skip
    if channel == "hotline":
        out.append(Bad("unknown_appeal_type", _set("appeal_type", "闲聊"), 422,
                       "invalid_request", _problem("appeal_type")))  # fmt: skip
    return out


def _keys_still_free(api: Api, channel: str, keys: list[str]) -> list[str]:
    """A valid submission with each key is new (201, created): the refusals left no trace."""
    problems = []
    for key in keys:
        r = submit(api, channel, body_for(channel, key), key=key)
        if r.status_code != 201 or r.json().get("created") is not True:
            problems.append(f"key {key!r} was taken by a refused request: {r.text}")
    return problems


@pytest.mark.parametrize("channel", CHANNELS)
def test_bad_input_is_refused_and_nothing_is_written(sqlite_app: App, channel: str) -> None:
    api = Api(sqlite_app)
    before = total(api)
    failures: list[str] = []
    keys: list[str] = []
    for i, bad in enumerate([*BAD_INPUTS, *_extra_bad_inputs(channel)]):
        key = f"bad-{i}"
        keys.append(key)
        if bad.raw is not None:
            r = submit(api, channel, content=bad.raw, key=key)
        else:
            r = submit(api, channel, bad.mutate(channel, body_for(channel, key)), key=key)
        try:
            bad.check(error(r, bad.status, bad.code), channel)
            assert total(api) == before, "a case was written"
        except AssertionError as exc:
            failures.append(f"{bad.name}: {exc}")
    failures += _keys_still_free(api, channel, keys)
    assert not failures, "\n".join(failures)
    assert total(api) == before + len(keys)


FORBIDDEN = {
    "hotline": ["citizen", "inspector01", "dispatcher", "commander", "auditor", "admin",
                "handler-bj-greening"],
    "inspector": ["citizen", "acceptor", "leader", "dispatcher", "admin", "handler-roads"],
    "citizen": ["acceptor", "leader", "inspector01", "dispatcher", "admin", "auditor"],
    "manual": ["citizen", "inspector01", "dispatcher", "commander", "auditor", "admin",
               "handler-roads"],
}  # fmt: skip


@pytest.mark.parametrize("channel", CHANNELS)
def test_wrong_role_for_the_channel_is_403(sqlite_app: App, channel: str) -> None:
    api = Api(sqlite_app)
    before = total(api)
    failures: list[str] = []
    for user in FORBIDDEN[channel]:
        r = submit(api, channel, body_for(channel, f"role-{user}"), key=f"role-{user}", user=user)
        try:
            error(r, 403, "forbidden")
        except AssertionError as exc:
            failures.append(f"{user}: {exc}")
    assert total(api) == before
    failures += _keys_still_free(api, channel, [f"role-{u}" for u in FORBIDDEN[channel]])
    assert not failures, "\n".join(failures)


BAD_AUTH = {"no_token": None, "bad_token": "Bearer not-a-token", "empty_bearer": "Bearer ",
            "basic_auth": "Basic YWNjZXB0b3I6Y2l0eW9wcy1kZW1v",
            "token_without_scheme": "not-a-token"}  # fmt: skip


@pytest.mark.parametrize("channel", CHANNELS)
def test_missing_or_bad_credentials_are_401(sqlite_app: App, channel: str) -> None:
    api = Api(sqlite_app)
    before = total(api)
    failures: list[str] = []
    for name, auth in BAD_AUTH.items():
        headers = {"Idempotency-Key": f"anon-{name}"}
        if auth is not None:
            headers["Authorization"] = auth
        r = api.client.post(
            f"/api/v1/intake/{channel}", json=body_for(channel, f"anon-{name}"), headers=headers
        )
        try:
            error(r, 401, "unauthorized")
            assert r.headers.get("www-authenticate") == "Bearer", r.headers
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert total(api) == before
    failures += _keys_still_free(api, channel, [f"anon-{n}" for n in BAD_AUTH])
    assert not failures, "\n".join(failures)


def test_a_token_signed_with_another_key_is_401(sqlite_app: App) -> None:
    import jwt

    api = Api(sqlite_app)
    before = total(api)
    forged = jwt.encode({"sub": "1", "role": "admin", "exp": 4102444800}, "x" * 32, "HS256")
    r = api.client.post("/api/v1/intake/hotline", json=body_for("hotline", "forged-1"),
                        headers={"Authorization": f"Bearer {forged}"})  # fmt: skip
    error(r, 401, "unauthorized")
    assert total(api) == before
    assert not _keys_still_free(api, "hotline", ["forged-1"])


def test_an_expired_token_is_401(sqlite_app: App, clock: Clock) -> None:
    api = Api(sqlite_app)
    before = total(api)
    login = api.client.post("/api/v1/auth/token",
                            json={"username": "acceptor", "password": DEMO_PASSWORD})  # fmt: skip
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    clock.advance(hours=13)  # tokens live 12 hours
    r = api.client.post("/api/v1/intake/hotline", json=body_for("hotline", "late-1"),
                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    error(r, 401, "unauthorized")
    assert "expired" in r.json()["error"]["message"]
    assert total(api) == before
    assert not _keys_still_free(api, "hotline", ["late-1"])


def test_manual_entry_needs_a_usable_idempotency_key(sqlite_app: App) -> None:
    api = Api(sqlite_app)
    before = total(api)
    for header in (None, "", "k" * 129):
        headers = {} if header is None else {"Idempotency-Key": header}
        r = api.post("acceptor", "/api/v1/intake/manual", json=body_for("manual", ""),
                     headers=headers)  # fmt: skip
        details = error(r, 422, "validation_failed")
        assert details["field"] in ("Idempotency-Key", "source_id"), (header, details)
        assert total(api) == before


def test_an_api_key_submits_only_to_its_channels(sqlite_app: App) -> None:
    api = Api(sqlite_app)
    r = api.post("admin", "/api/v1/admin/api-keys",
                 json={"name": "12345-sync", "channels": ["hotline"]})  # fmt: skip
    assert r.status_code == 201, r.text
    key = {"X-API-Key": r.json()["key"]}
    before = total(api)
    ok = api.client.post("/api/v1/intake/hotline", json=body_for("hotline", "sync-1"),
                         headers=key)  # fmt: skip
    assert ok.status_code == 201, ok.text
    no = api.client.post("/api/v1/intake/manual", json=body_for("manual", "sync-2"),
                         headers={**key, "Idempotency-Key": "sync-2"})  # fmt: skip
    error(no, 403, "forbidden")
    bad = api.client.post("/api/v1/intake/hotline", json=body_for("hotline", "sync-3"),
                          headers={"X-API-Key": "cok_wrong"})  # fmt: skip
    error(bad, 401, "unauthorized")
    assert total(api) == before + 1


@pytest.mark.parametrize("channel", ["inspector", "citizen"])
def test_an_idempotency_key_of_the_maximum_documented_length_is_accepted(
    sqlite_app: App, channel: str
) -> None:
    api = Api(sqlite_app)
    key = "k" * 128  # the schema's max_length for report_id / client_request_id
    r = submit(api, channel, body_for(channel, key))
    assert r.status_code == 201, r.text
    again = submit(api, channel, body_for(channel, key))
    assert again.status_code == 200 and again.json()["case_id"] == r.json()["case_id"]


@pytest.mark.parametrize("channel", ["hotline", "manual"])
def test_a_report_without_a_category_is_taken_in(sqlite_app: App, channel: str) -> None:
    """Hotline orders and walk-ins may arrive unclassified; the acceptor classifies them."""
    api = Api(sqlite_app)
    body = body_for(channel, "uncat-1")
    del body["category"]
    r = submit(api, channel, body, key="uncat-1")
    assert r.status_code == 201, r.text
    detail = api.get("acceptor", f"/api/v1/cases/{r.json()['case_id']}").json()
    assert detail["category"] is None
    assert detail["clock"]["limit"] == "1wh"  # the default accept limit


# --------------------------------------------------------------------------------------------
# Workflow errors on the actions endpoint


def _reported_case(api: Api, key: str = "wf-1") -> int:
    r = api.citizen_report(key)
    assert r.status_code == 201, r.text
    return int(r.json()["case_id"])


def _timeline(api: Api, case_id: int) -> list[dict[str, Any]]:
    detail = api.get("leader", f"/api/v1/cases/{case_id}").json()
    return list(detail["timeline"])


def _state(api: Api, case_id: int) -> str:
    return str(api.get("leader", f"/api/v1/cases/{case_id}").json()["state"])


def test_an_illegal_action_is_409_listing_the_allowed_ones(app: App) -> None:
    api = Api(app)
    case_id = _reported_case(api)
    details = error(api.act("acceptor", case_id, "close"), 409, "illegal_transition")
    assert details["state"] == "reported"
    assert details["action"] == "close"
    assert "accept" in details["allowed"] and "invalidate" in details["allowed"]
    assert "close" not in details["allowed"]
    shown = api.get("acceptor", f"/api/v1/cases/{case_id}").json()["allowed_actions"]
    assert sorted(details["allowed"]) == sorted(a["action"] for a in shown)
    assert _state(api, case_id) == "reported"
    assert len(_timeline(api, case_id)) == 1


def test_dispatching_a_case_not_yet_opened_is_409(app: App) -> None:
    api = Api(app)
    case_id = _reported_case(api)
    details = error(api.act("dispatcher", case_id, "dispatch"), 409, "illegal_transition")
    assert details["state"] == "reported"
    assert "dispatch" not in details["allowed"]
    assert api.act("acceptor", case_id, "accept").status_code == 200
    departments = api.get("admin", "/api/v1/departments").json()
    explicit = next(d["id"] for d in departments if d["code"] == "bj-greening")
    details = error(api.act("dispatcher", case_id, "dispatch", department_id=explicit), 409,
                    "illegal_transition")  # fmt: skip
    assert details["state"] == "accepted"
    assert _state(api, case_id) == "accepted"
    assert [e["action"] for e in _timeline(api, case_id)] == ["submit", "accept"]


def test_a_guard_failure_is_409_guard_failed(app: App) -> None:
    api = Api(app)
    case_id = _reported_case(api)
    for body in ({}, {"note": None}, {"note": ""}, {"note": "  \n "}):
        r = api.act("acceptor", case_id, "invalidate", **body)
        details = error(r, 409, "guard_failed")
        assert details["action"] == "invalidate", body
        assert details["state"] == "reported", body
        assert details["reasons"], body
    assert _state(api, case_id) == "reported"
    assert len(_timeline(api, case_id)) == 1
    assert api.act("acceptor", case_id, "invalidate", note="重复上报").status_code == 200
    assert _state(api, case_id) == "invalid"


def test_an_unknown_case_is_404(app: App) -> None:
    api = Api(app)
    for who, action in (("acceptor", "accept"), ("dispatcher", "dispatch"), ("leader", "close")):
        details = error(api.act(who, 987654, action), 404, "not_found")
        assert details["case_id"] == 987654, action
    error(api.get("acceptor", "/api/v1/cases/987654"), 404, "not_found")
    assert total(api) == 0


def test_a_bad_action_body_is_refused_and_nothing_is_written(app: App) -> None:
    api = Api(app)
    case_id = _reported_case(api)
    details = error(api.act("acceptor", case_id, "accept", reason="x"), 422, "invalid_request")
    assert "reason" in [p["field"] for p in details["problems"]]
    details = error(api.act("acceptor", case_id, "accept", media=["m"] * 10), 422,
                    "invalid_request")  # fmt: skip
    assert "media" in [p["field"] for p in details["problems"]]
    headers = {**api.headers("acceptor"), "Content-Type": "application/json"}
    r = api.client.post(
        f"/api/v1/cases/{case_id}/actions/accept", content=b'{"note": ', headers=headers
    )
    error(r, 400, "malformed_json")
    assert _state(api, case_id) == "reported"
    assert len(_timeline(api, case_id)) == 1


# --------------------------------------------------------------------------------------------
# Idempotent actions


def test_the_same_action_with_the_same_idempotency_key_is_applied_once(app: App) -> None:
    api = Api(app)
    case_id = _reported_case(api)
    path = f"/api/v1/cases/{case_id}/actions/accept"
    key = {"Idempotency-Key": "accept-once-1"}

    first = api.post("acceptor", path, json={"note": "受理"}, headers=key)
    assert first.status_code == 200, first.text
    assert first.json()["replayed"] is False
    assert (first.json()["from_state"], first.json()["to_state"]) == ("reported", "accepted")

    second = api.post("acceptor", path, json={"note": "受理"}, headers=key)
    assert second.status_code == 200, second.text
    assert second.json() == {**first.json(), "replayed": True}

    timeline = _timeline(api, case_id)
    accepts = [e for e in timeline if e["action"] == "accept"]
    assert len(accepts) == 1
    assert accepts[0]["correlation_id"] == "accept-once-1"
    assert len(timeline) == 2

    # Without the key, a repeat is just an illegal step from the new state.
    error(api.post("acceptor", path, json={}), 409, "illegal_transition")
    assert len(_timeline(api, case_id)) == 2


def test_an_idempotency_key_is_per_case(app: App) -> None:
    api = Api(app)
    one, two = _reported_case(api, "per-case-1"), _reported_case(api, "per-case-2")
    key = {"Idempotency-Key": "same-key"}
    for case_id in (one, two):
        r = api.post("acceptor", f"/api/v1/cases/{case_id}/actions/accept", json={}, headers=key)
        assert r.status_code == 200, r.text
        assert r.json()["replayed"] is False
        assert _state(api, case_id) == "accepted"
