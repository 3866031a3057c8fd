"""Every setting does something: each Settings field is read by code somewhere (a documented setting that
nothing reads is a promise the product does not keep)."""

from __future__ import annotations

import re

from kgflow.config import REPO_ROOT, Settings

CODE = ("plugins/kgflow", "dags", "spark_jobs", "serving")


def _code() -> tuple[str, str]:
    config = REPO_ROOT / "plugins" / "kgflow" / "config.py"
    others = [p for d in CODE for p in (REPO_ROOT / d).rglob("*.py") if p != config]
    return "\n".join(p.read_text() for p in others), config.read_text()


def _unread(names) -> list[str]:
    code, config = _code()
    return [n for n in names if not re.search(rf"\.{n}\b|[\"']{n}[\"']", code)
            and not re.search(rf"self\.{n}\b", config)]  # read by a Settings property or method


def test_every_setting_is_read_by_some_code():
    assert _unread(Settings.model_fields) == []


def test_a_setting_nothing_reads_is_found():
    assert _unread(["a_setting_that_nothing_reads"]) == ["a_setting_that_nothing_reads"]
