"""Jurisdiction scoping: every read and write is limited to what the caller's role covers.

- whole-city roles (admin, commander, auditor) and centre staff (acceptor, shift leader,
  dispatcher) see the cases inside their scope region (all of the city when unscoped);
- an inspector sees the cases in their scope (their street or grid);
- a department handler sees the cases assigned to their department now or before;
- a citizen sees the cases they reported.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, false, select, true

from cityops.adapters.db.models import CaseEventRow, CaseRow
from cityops.domain.errors import Forbidden, NotFound
from cityops.domain.model import Role
from cityops.service.principal import Principal

AREA_ROLES = frozenset(
    {
        Role.ADMIN,
        Role.COMMANDER,
        Role.AUDITOR,
        Role.ACCEPTOR,
        Role.SHIFT_LEADER,
        Role.DISPATCHER,
        Role.INSPECTOR,
        Role.SYSTEM,
    }
)


def _is_city(scope: str) -> bool:
    return len(scope) == 6 and scope.endswith("00")


def _in_area(scope: str | None) -> ColumnElement[bool]:
    if scope is None:
        return true()
    if _is_city(scope):
        # A city code (XXXX00) covers its districts, whose codes share its first four digits,
        # and the reports not yet located (address only) that its centre must place.
        return CaseRow.grid_code.startswith(scope[:4]) | CaseRow.grid_code.is_(None)
    return CaseRow.grid_code.startswith(scope)


def visible_cases(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause selecting exactly the cases the caller may see."""
    if principal.role in AREA_ROLES:
        return _in_area(principal.scope_code)
    if principal.role is Role.HANDLER:
        if not principal.department_ids:
            return false()
        ids = list(principal.department_ids)
        past = exists(
            select(CaseEventRow.id).where(
                CaseEventRow.case_id == CaseRow.id, CaseEventRow.department_id.in_(ids)
            )
        )
        return CaseRow.department_id.in_(ids) | past
    if principal.role is Role.CITIZEN and principal.user_id is not None:
        return CaseRow.reporter_user_id == principal.user_id
    return false()


def can_see(case: CaseRow, principal: Principal, past_departments: set[int]) -> bool:
    if principal.role in AREA_ROLES:
        scope = principal.scope_code
        if scope is None:
            return True
        if case.grid_code is None:
            return _is_city(scope)
        return case.grid_code.startswith(scope[:4] if _is_city(scope) else scope)
    if principal.role is Role.HANDLER:
        mine = principal.department_ids
        return case.department_id in mine or bool(past_departments & mine)
    if principal.role is Role.CITIZEN:
        return principal.user_id is not None and case.reporter_user_id == principal.user_id
    return False


def ensure_can_act(case: CaseRow, principal: Principal) -> None:
    """Writes are scoped like reads; a case outside the caller's reach is 'not found'."""
    if principal.role is Role.SYSTEM:
        return
    if principal.role is Role.AUDITOR:
        raise Forbidden("auditors read only / 审计员只读")
    if principal.role is Role.HANDLER:
        # Handlers act only on what is assigned to them now (the guards say which actions).
        if case.department_id not in principal.department_ids:
            raise NotFound(f"case {case.id} not found", case_id=case.id)
        return
    if not can_see(case, principal, set()):
        raise NotFound(f"case {case.id} not found", case_id=case.id)
