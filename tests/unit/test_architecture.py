"""The dependency rules of docs/architecture.md, checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "realtone_core": ROOT / "layers/common/python/realtone_core",
    "realtone_api": ROOT / "functions/api/realtone_api",
    "realtone_scorer": ROOT / "functions/scorer/realtone_scorer",
    "realtone_cli": ROOT / "clients/cli/realtone_cli",
    "realtone_local": ROOT / "local/realtone_local",
}
# What each package may never import, at module level or inside a function.
FORBIDDEN = {
    # The core is shipped as a layer to every function: it knows none of them.
    "realtone_core": {"realtone_api", "realtone_scorer", "realtone_cli", "realtone_local"},
    # The API's zip has no scorer (and no torch) in it.
    "realtone_api": {"realtone_scorer", "realtone_cli", "realtone_local", "torch"},
    "realtone_scorer": {"realtone_api", "realtone_cli", "realtone_local"},
    # The client installs alone (clients/cli/pyproject.toml): no server code at all.
    "realtone_cli": {"realtone_core", "realtone_api", "realtone_scorer", "realtone_local"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_follow_the_rules(package):
    breaches = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in PACKAGES[package].rglob("*.py")
    }
    assert {k: v for k, v in breaches.items() if v} == {}


def test_the_rules_see_real_imports():
    # A check that finds nothing must still be able to find something.
    assert "realtone_core" in imported_packages(PACKAGES["realtone_api"] / "deps.py")
    assert "torch" in imported_packages(PACKAGES["realtone_scorer"] / "detector.py")
