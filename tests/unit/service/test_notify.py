"""Who gets told when a case closes: contacts per report, one notice per person, masking."""

from __future__ import annotations

import json

from cityops.adapters.db.models import ReportRow, UserRow
from cityops.service.notify import Contact, _identities, closed_body, contacts, mask


def _report(source_id: str = "hl-1", raw: str = "{}", **kw: object) -> ReportRow:
    return ReportRow(channel=kw.pop("channel", "hotline"), source_id=source_id, raw=raw, **kw)


def _user(name: str = "citizen", phone: str | None = None) -> UserRow:
    return UserRow(id=7, username=name, display_name=name, role="citizen", password_hash="",
                   phone=phone)  # fmt: skip


def test_the_preferred_contact_comes_first() -> None:
    both = _report(reporter_phone="138 1234 5678", reporter_user_id=7)
    assert contacts(both, _user()) == [Contact("sms", "138 1234 5678"), Contact("app", "citizen")]
    assert contacts(_report(reporter_user_id=7), _user()) == [Contact("app", "citizen")]
    assert contacts(_report(reporter_name="张三"), None) == []  # a name alone reaches nobody
    assert contacts(_report(reporter_phone="  "), None) == []


def test_open311_email_and_device_come_from_the_raw_request() -> None:
    form = "service_code=E0102&email=a%40example.com&device_id=dev-9&api_key=[redacted]"
    r = _report("open311:app:dev-9:k1", form, channel="citizen")
    assert contacts(r, None) == [Contact("email", "a@example.com"), Contact("open311", "dev-9")]
    as_json = _report("open311:app:-:k2", json.dumps({"email": "b@example.com"}), channel="citizen")
    assert contacts(as_json, None) == [Contact("email", "b@example.com")]
    # Other channels' raw payloads are not read for contacts, and broken JSON is ignored.
    assert contacts(_report(raw=json.dumps({"email": "c@example.com"})), None) == []
    assert contacts(_report("open311:x", "{not json", channel="citizen"), None) == []


def test_one_person_by_phone_or_account_is_one_reporter() -> None:
    user = _user(phone="13812345678")
    by_app = _report(reporter_user_id=7)
    by_phone = _report(reporter_phone="+86 138-1234-5678")
    a = _identities(by_app, user, contacts(by_app, user))
    b = _identities(by_phone, None, contacts(by_phone, None))
    assert a & b == {"tel:13812345678"}


def test_masks_and_body() -> None:
    assert mask("sms", "13812345678") == "138****5678"
    assert mask("email", "zhang@example.com") == "z***@example.com"
    assert mask("app", "citizen") == "c***"
    body = closed_body("20261118000001", "已清运" * 50, merged=True)
    assert body.startswith("【一网统管】您反映的问题（案卷编号 20261118000001）已办结（与其他")
    assert "处置结果：已清运" in body and "…" in body and len(body) < 250
    assert "处置结果" not in closed_body("20261118000001", None, merged=False)
