"""Who may read a source's document: its department (from the top folder, or fixed per source), failing closed.

A folder name is a department only when it is a plain lower-case name; `*` (the "every department"
marker in ACLs and tokens) or any other odd name is never one. Files at the root of the source get the
configured root department, and are private (readable only by callers allowed every department, i.e.
admins) when none is configured. Only departments configured as public are readable by everyone.

A copy of a document keeps the ACL of the folder it was filed in: a finance memo copied into sales/
is readable by sales, exactly as the file share itself would show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from kgflow.errors import KgflowError

ALL = "*"
DEPARTMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ROOT = "root"  # department label of root files when no root department is configured


class InvalidDepartment(KgflowError, ValueError):
    """A folder whose name cannot be a department: its documents are quarantined, never published."""
    status, error_type = 400, "bad_request"


def valid_department(name: object) -> bool:
    return isinstance(name, str) and bool(DEPARTMENT_NAME.match(name))


class DepartmentMapping(Protocol):
    """(department, acl) for a document at `parts` below its source root; raises InvalidDepartment."""

    def assign(self, parts: list[str]) -> tuple[str, list[str]]: ...


def _check(names: list[str]) -> None:
    for name in names:
        if name and not valid_department(name):
            raise InvalidDepartment(f"configured department {name!r} is not a valid department name "
                                    f"(lower-case letters, digits, '-' and '_')")


@dataclass(frozen=True)
class DepartmentPolicy:
    """The default mapping: the top folder names the department, as the file share's own folders do."""

    root_department: str = ""
    public_departments: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, s) -> DepartmentPolicy:
        _check([s.root_department, *s.public_departments])
        return cls(s.root_department, frozenset(s.public_departments))

    def assign(self, parts: list[str]) -> tuple[str, list[str]]:
        """(department, acl) for a document at `parts` below the source root."""
        if len(parts) == 1:
            if not self.root_department:
                return ROOT, []  # private: only callers allowed every department
            dept = self.root_department
        else:
            dept = parts[0].lower()
            if not valid_department(dept):
                shown = parts[0].encode("utf-8", "replace").decode("utf-8", "replace")[:40]
                raise InvalidDepartment(f"folder {shown!r} is not a valid department name (lower-case letters, "
                                        f"digits, '-' and '_'); its documents are not published")
        return dept, [ALL] if dept in self.public_departments else [dept]


@dataclass(frozen=True)
class FixedDepartment:
    """Every document of a source belongs to one department (a bucket that is legal's, say)."""

    department: str
    public_departments: frozenset[str] = frozenset()

    def assign(self, parts: list[str]) -> tuple[str, list[str]]:
        return self.department, [ALL] if self.department in self.public_departments else [self.department]


def policy_for(source, s) -> DepartmentMapping:
    """The mapping a configured source asked for: a fixed department, else the top folder."""
    if source.department:
        _check([source.department, *s.public_departments])
        return FixedDepartment(source.department, frozenset(s.public_departments))
    return DepartmentPolicy.from_settings(s)


def may_read(acl: list[str] | tuple[str, ...], departments: frozenset[str] | None) -> bool:
    """None: no restriction (auth disabled). An empty ACL is readable only with the `*` grant."""
    if departments is None or ALL in departments:
        return True
    return ALL in acl or bool(departments.intersection(acl))
