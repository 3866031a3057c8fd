"""The configuration reference (docs/configuration.md), generated from the Settings class so the two cannot drift.

Each row: the environment variable, its default and what it means (the field's description, else the comment
on its line in config.py); the comments that head groups of fields in config.py head the table's groups.

    .venv/bin/python -m kgflow.settings_reference --write   # rewrite docs/configuration.md's table
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

from pydantic_core import PydanticUndefined

from kgflow.config import REPO_ROOT, Settings

BEGIN, END = "<!-- settings-reference:begin -->", "<!-- settings-reference:end -->"
_FIELD = re.compile(r"^    (\w+): [^=]+?(?:= (.+?))?\s*(?:#\s*(.*))?$")
_GROUP = re.compile(r"^    #\s*(.+)$")


def _comments() -> dict[str, tuple[str, str]]:
    """field -> (its comment, the comment heading its group), from the class source. The first comment line
    after a blank line heads a group; other comment lines above a field are that field's comment."""
    out: dict[str, tuple[str, str]] = {}
    group, note, after_blank = "", [], True
    for line in inspect.getsource(Settings).splitlines():
        if g := _GROUP.match(line):
            if after_blank:
                group = g.group(1)
            else:
                note.append(g.group(1))
            after_blank = False
        elif not line.strip():
            group, note, after_blank = "", [], True  # a blank line ends a group
        elif f := _FIELD.match(line):
            # the comment above a field is the fuller one where both are written
            out[f.group(1)] = (" ".join(note) or (f.group(3) or "").strip(), group)
            note, after_blank = [], False
        else:
            after_blank = False
    return out


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined or value is None:
        return "unset"
    if isinstance(value, Path):
        inside = value.is_relative_to(REPO_ROOT)
        return f"`{value.relative_to(REPO_ROOT)}` (in the repository)" if inside else f"`{value}`"
    return f"`{value!r}`" if isinstance(value, str | list) else f"`{value}`"


def render() -> str:
    comments = _comments()
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    heading = ""
    for name, field in Settings.model_fields.items():
        own, group = comments.get(name, ("", ""))
        if group != heading:
            heading = group
            if group:
                rows.append(f"| **{group}** | | |")
        meaning = field.description or own
        rows.append(f"| `KGFLOW_{name.upper()}` | {_default(name)} | {meaning.replace('|', '/')} |")
    return "\n".join(rows)


def readme_section(readme: str) -> str:
    return readme[readme.index(BEGIN) + len(BEGIN):readme.index(END)].strip()


def write(readme_path: Path = REPO_ROOT / "docs" / "configuration.md") -> None:
    text = readme_path.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    readme_path.write_text(text[:start] + "\n" + render() + "\n" + text[end:])


if __name__ == "__main__":
    if "--write" in sys.argv:
        write()
    else:
        print(render())
