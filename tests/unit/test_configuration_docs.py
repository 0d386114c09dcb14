"""Every ``REALTONE_`` variable any process reads is in the README's configuration table."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices

from realtone_api.settings import ApiSettings
from realtone_core.config import CoreSettings, MigrationSettings, SweepSettings, WebhookSettings
from realtone_scorer.settings import ScorerSettings

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["layers", "functions", "clients", "local", "template.yaml"]


def variables_read() -> set[str]:
    names: set[str] = set()
    for cls in (
        MigrationSettings,
        CoreSettings,
        SweepSettings,
        ApiSettings,
        ScorerSettings,
        WebhookSettings,
    ):
        for field_name, field in cls.model_fields.items():
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):
                names |= {str(c) for c in alias.choices if str(c).startswith("REALTONE_")}
            else:
                names.add("REALTONE_" + field_name.upper())
    for source in SOURCES:
        paths = [ROOT / source] if source.endswith(".yaml") else (ROOT / source).rglob("*.py")
        for path in paths:
            names |= set(re.findall(r"REALTONE_[A-Z0-9_]*[A-Z0-9]", path.read_text()))
    return names


def documented() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("|")]
    return set(re.findall(r"REALTONE_[A-Z0-9_]*[A-Z0-9]", "\n".join(rows)))


def test_every_variable_read_is_documented():
    missing = variables_read() - documented()
    assert not missing, f"add to the README's configuration table: {sorted(missing)}"


def test_the_table_documents_nothing_that_is_read_nowhere():
    assert documented() - variables_read() == set()
