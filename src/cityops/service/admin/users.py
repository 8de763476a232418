"""Users: imports, edits and the rule that the city always keeps an active admin."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.adapters.db.models import UserRow
from cityops.bootstrap import App
from cityops.domain.errors import Conflict, ImportProblem, ImportRejected, NotFound
from cityops.domain.model import Role
from cityops.service.admin.common import ImportResult, audit, diff, region_codes, reject, upsert
from cityops.service.auth import hash_password
from cityops.service.reference import Snapshot


def _user_reasons(
    u: Mapping[str, Any], snap: Snapshot, codes: set[str], *, password_required: bool = True
) -> list[str]:
    """Everything wrong with one user as the import and the edit both see it."""
    reasons: list[str] = []
    name = u.get("username")
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        reasons.append("username is required, at most 64 characters")
    role = u.get("role")
    if role not in Role.__members__.values() or role == Role.SYSTEM:
        reasons.append(f"unknown role {role}")
    scope, dept = u.get("scope"), u.get("department")
    if scope and (not isinstance(scope, str) or scope not in codes):
        reasons.append(f"unknown scope region {scope}")
    if dept and (not isinstance(dept, str) or dept not in snap.departments_by_code):
        reasons.append(f"unknown department {dept}")
    if role == Role.HANDLER and not dept:
        reasons.append("a handler needs a department")
    shown = u.get("display_name")
    if shown is not None and (not isinstance(shown, str) or len(shown) > 100):
        reasons.append("display_name must be text of at most 100 characters")
    if u.get("phone") is not None and len(str(u["phone"])) > 32:
        reasons.append("phone has at most 32 characters")
    if (password_required or "password" in u) and len(str(u.get("password") or "")) < 8:
        reasons.append("password needs at least 8 characters")
    return reasons


def _active_admins(s: Session, *, lock: bool = False) -> set[str]:
    """Usernames of the active admins; ``lock`` serialises the writers that may remove one."""
    q = select(UserRow.username).where(UserRow.role == Role.ADMIN.value, UserRow.active)
    return set(s.scalars(q.with_for_update() if lock else q))


def _keep_an_admin(s: Session, before: set[str], username: str) -> None:
    """Refuse (409) a change that leaves the city without an active admin."""
    s.flush()
    if before and not _active_admins(s):
        raise Conflict(
            "the last active admin cannot be deactivated or demoted / 不能停用或降级最后一位管理员",
            username=username,
        )


def import_users(app: App, items: Iterable[Mapping[str, Any]], actor: str) -> ImportResult:
    items = list(items)
    problems: list[ImportProblem] = []
    snap = app.reference.get()
    codes = region_codes(app)
    first_at: dict[str, int] = {}
    for i, u in enumerate(items):
        where = f"users[{i}] {u.get('username', '?')}"
        reasons = _user_reasons(u, snap, codes)
        name = u.get("username")
        if isinstance(name, str) and first_at.setdefault(name, i) != i:
            reasons.append(f"duplicate username (first at users[{first_at[name]}])")
        problems += [ImportProblem(where, r) for r in reasons]
    if problems:
        raise ImportRejected("users rejected; nothing imported", problems)
    now = app.clock()

    def fill(row: UserRow, u: Mapping[str, Any]) -> None:
        dept = snap.departments_by_code.get(u.get("department") or "")
        row.display_name = u.get("display_name") or u["username"]
        row.role, row.scope_code = u["role"], u.get("scope")
        row.department_id = dept.id if dept else None
        row.password_hash, row.phone, row.active = (
            hash_password(u["password"], app.settings),
            u.get("phone"),
            True,
        )

    with app.sessions.begin() as s:
        admins = _active_admins(s, lock=True)
        created, updated, _ = upsert(
            s, UserRow, "username", ((u["username"], u) for u in items), fill
        )
        _keep_an_admin(s, admins, ", ".join(sorted(admins)))
        audit(
            s,
            actor,
            "import_users",
            f"{len(items)} users",
            {"created": created, "updated": updated},
            now,
        )
    return ImportResult("users", created, updated)


USER_FIELDS = frozenset({"role", "scope", "department", "active", "display_name", "password"})


def _user_view(row: UserRow, snap: Snapshot) -> dict[str, Any]:
    dept = snap.departments_by_id.get(row.department_id or -1)
    return {
        "id": row.id,
        "username": row.username,
        "display_name": row.display_name,
        "role": row.role,
        "scope": row.scope_code,
        "department": dept.code if dept else None,
        "department_id": row.department_id,
        "active": row.active,
    }


def list_users(app: App, role: Role | None = None) -> list[dict[str, Any]]:
    """Every user, without secrets; optionally one role only."""
    snap = app.reference.get()
    q = select(UserRow).order_by(UserRow.username)
    if role is not None:
        q = q.where(UserRow.role == role.value)
    with app.reads() as s:
        return [_user_view(u, snap) for u in s.scalars(q)]


def edit_user(app: App, username: str, changes: Mapping[str, Any], actor: str) -> dict[str, Any]:
    """Change a user's role, jurisdiction, department, name, password or active flag."""
    problems = [
        ImportProblem(f, "not an editable field") for f in sorted(set(changes) - USER_FIELDS)
    ]
    if not changes:
        problems.append(ImportProblem("body", "nothing to change"))
    if "active" in changes and not isinstance(changes["active"], bool):
        problems.append(ImportProblem("active", "must be true or false"))
    snap, codes, now = app.reference.get(), region_codes(app), app.clock()
    with app.sessions.begin() as s:
        admins = _active_admins(s, lock=True)
        row = s.scalars(
            select(UserRow).where(UserRow.username == username).with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"unknown user {username} / 未知用户", username=username)
        before = _user_view(row, snap)
        after = {**before, **{k: v for k, v in changes.items() if k in USER_FIELDS - {"password"}}}
        checked = {**after, **({"password": changes["password"]} if "password" in changes else {})}
        reasons = _user_reasons(checked, snap, codes, password_required=False)
        problems += [ImportProblem(username, r) for r in reasons]
        reject(f"user {username} not changed: {len(problems)} problem(s)", problems)
        dept = snap.departments_by_code.get(after["department"] or "")
        row.role, row.scope_code, row.active = (
            after["role"],
            after["scope"] or None,
            after["active"],
        )
        row.display_name = after["display_name"] or username
        row.department_id = dept.id if dept else None
        if "password" in changes:
            row.password_hash = hash_password(changes["password"], app.settings)
        _keep_an_admin(s, admins, username)
        detail = diff(before, _user_view(row, snap))
        if "password" in changes:
            detail["after"]["password"] = "changed"  # never the hash
        audit(s, actor, "edit_user", username, detail, now)
        return _user_view(row, snap)
