"""The services never import each other (DESIGN §2)."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
SHARED = {"common"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_services_import_only_schemas_common_and_themselves() -> None:
    packages = [p for p in SERVICES.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    assert {p.name for p in packages} >= {"common", "migrate"}
    offenders: list[str] = []
    for package in packages:
        for path in package.rglob("*.py"):
            for module in imported_modules(path):
                parts = module.split(".")
                if parts[0] != "services" or len(parts) < 2:
                    continue
                if parts[1] not in SHARED | {package.name}:
                    offenders.append(f"{path.relative_to(SERVICES)} imports {module}")
                if package.name in SHARED and parts[1] != package.name:
                    offenders.append(f"{path.relative_to(SERVICES)} (shared) imports {module}")
    assert offenders == []
