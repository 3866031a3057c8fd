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
