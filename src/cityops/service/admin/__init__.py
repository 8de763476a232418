"""Administrative imports and edits: regions, departments, taxonomy, rules, users, calendars.

Each import validates everything first and writes in one transaction, so a file with one bad
item leaves the database as it was, and the error names every offending item. Every change
is written to the audit log. The submodules hold one subject each; everything callers use is
re-exported here, so ``from cityops.service.admin import …`` and ``admin.x(…)`` keep working.
"""

from cityops.service.admin.common import ImportResult, audit, region_codes, upsert_values
from cityops.service.admin.holidays import load_holidays
from cityops.service.admin.rules import import_rules, rule_versions, ruleset_view
from cityops.service.admin.structure import department_detail, import_departments, import_regions
from cityops.service.admin.taxonomy import (
    CATEGORY_FIELDS,
    category_view,
    edit_category,
    import_taxonomy,
)
from cityops.service.admin.users import USER_FIELDS, edit_user, import_users, list_users

__all__ = [
    "CATEGORY_FIELDS",
    "USER_FIELDS",
    "ImportResult",
    "audit",
    "category_view",
    "department_detail",
    "edit_category",
    "edit_user",
    "import_departments",
    "import_regions",
    "import_rules",
    "import_taxonomy",
    "import_users",
    "list_users",
    "load_holidays",
    "region_codes",
    "rule_versions",
    "ruleset_view",
    "upsert_values",
]
