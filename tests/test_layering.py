"""The package layering of ARCHITECTURE.md: imports point down only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"app", "reporting", "dicomio", "volumetrics", "recist", "segmentation"}
#: What each package may import, among first-party packages and the heavy third-party layers.
ALLOWED_FIRST_PARTY = {
    "recist": set(),
    "volumetrics": set(),
    "segmentation": set(),
    "dicomio": set(),
    "reporting": {"dicomio", "volumetrics", "recist"},
    "app": {"reporting", "dicomio", "volumetrics", "recist", "segmentation"},
}
#: Third-party modules a package must not import (service, database and DICOM layers).
FORBIDDEN_THIRD_PARTY = {
    "recist": {
        "fastapi",
        "starlette",
        "pydantic",
        "sqlalchemy",
        "pydicom",
        "SimpleITK",
        "highdicom",
        "celery",
        "typer",
    },
    "volumetrics": {
        "fastapi",
        "starlette",
        "pydantic",
        "sqlalchemy",
        "pydicom",
        "SimpleITK",
        "highdicom",
        "celery",
        "typer",
    },
    # Classical segmentation: numpy/scipy/scikit-image, and SimpleITK's filters (no DICOM).
    "segmentation": {
        "fastapi",
        "starlette",
        "pydantic",
        "sqlalchemy",
        "pydicom",
        "highdicom",
        "celery",
        "typer",
    },
    "dicomio": {"fastapi", "starlette", "pydantic", "sqlalchemy", "celery", "typer"},
    "reporting": {"fastapi", "starlette", "sqlalchemy", "celery", "typer"},
    # Nothing but dicomio reads DICOM (ARCHITECTURE.md); reporting writes SR/SEG with these.
    "app": {"pydicom", "SimpleITK", "highdicom"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _modules() -> list[tuple[str, Path]]:
    out = []
    for pkg in ALLOWED_FIRST_PARTY:
        out.extend((pkg, p) for p in sorted((ROOT / pkg).rglob("*.py")))
    return out


@pytest.mark.parametrize(("package", "path"), _modules(), ids=lambda v: str(v).split("/main/")[-1])
def test_module_imports_point_down_only(package: str, path: Path) -> None:
    """A module imports only first-party packages below its own and none of its forbidden layers."""
    imported = _imports(path)
    upward = (imported & FIRST_PARTY) - ALLOWED_FIRST_PARTY[package] - {package}
    assert not upward, f"{path.relative_to(ROOT)} imports {sorted(upward)} (layering)"
    forbidden = imported & FORBIDDEN_THIRD_PARTY[package]
    assert not forbidden, f"{path.relative_to(ROOT)} imports {sorted(forbidden)}"


def test_layering_check_sees_every_package() -> None:
    """The walk finds modules in each package, so an empty walk cannot pass silently."""
    packages = {pkg for pkg, _ in _modules()}
    assert packages == set(ALLOWED_FIRST_PARTY)
