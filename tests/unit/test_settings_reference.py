from kgflow.config import REPO_ROOT, Settings
from kgflow.settings_reference import readme_section, render


def test_the_configuration_reference_is_the_one_generated_from_settings():
    assert readme_section((REPO_ROOT / "docs" / "configuration.md").read_text()) == render(), (
        "docs/configuration.md drifted from Settings: run .venv/bin/python -m kgflow.settings_reference --write")


def test_every_setting_has_a_row_that_says_what_it_means():
    rows = {line.split("|")[1].strip(" `"): line.split("|")[3].strip() for line in render().splitlines()[2:]
            if line.startswith("| `")}
    assert set(rows) == {f"KGFLOW_{name.upper()}" for name in Settings.model_fields}
    assert all(rows.values()), [k for k, v in rows.items() if not v]


def test_every_section_of_the_reference_is_a_heading_config_py_starts_a_group_with():
    """Before: a comment continued on the next line (above a field) became a bold "section" of its own."""
    import inspect
    import re

    lines = inspect.getsource(Settings).splitlines()
    headings = {re.sub(r"^\s*#\s*", "", ln) for prev, ln in zip(lines, lines[1:], strict=False)
                if not prev.strip() and ln.strip().startswith("#")}
    sections = re.findall(r"^\| \*\*(.+?)\*\* \|", render(), re.M)
    assert sections and set(sections) <= headings, set(sections) - headings
