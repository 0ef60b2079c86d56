"""The package layering of ARCHITECTURE.md: imports point down only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"app", "reporting", "dicomio", "volumetrics", "recist", "segmentation", "phantoms"}
#: What each package may import, among first-party packages and the heavy third-party layers.
ALLOWED_FIRST_PARTY = {
    "recist": set(),
    "volumetrics": set(),
    "segmentation": set(),
    "dicomio": set(),
    "reporting": {"dicomio", "volumetrics", "recist"},
    "app": {"reporting", "dicomio", "volumetrics", "recist", "segmentation"},
    # The test-data generator: writes DICOM in dicomio's terms; only tests and benchmarks use it.
    "phantoms": {"dicomio"},
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
    "phantoms": {"fastapi", "starlette", "pydantic", "sqlalchemy", "celery", "typer"},
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


# --- Import cycles between first-party modules -------------------------------------------------


def _module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every first-party module (a package is its ``__init__``)."""
    found: dict[str, Path] = {}
    for pkg in sorted(FIRST_PARTY):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def _runtime_import_names(tree: ast.AST) -> list[str]:
    """Dotted names imported anywhere in ``tree`` (functions included), except type-only blocks."""
    names: list[str] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking_block(node):
            continue
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
            names.append(node.module)
        stack.extend(ast.iter_child_nodes(node))
    return names


def _import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the first-party modules its import statements execute.

    ``import a.b.c`` runs ``a``, ``a.b`` and ``a.b.c``; the importer's own enclosing packages are
    already running, so they are not edges (a package facade importing its own submodules is fine).
    """
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        own_parents = {name.rsplit(".", i)[0] for i in range(1, name.count(".") + 1)}
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for imported in _runtime_import_names(tree):
            parts = imported.split(".")
            for i in range(1, len(parts) + 1):
                target = ".".join(parts[:i])
                if target in modules and target != name and target not in own_parents:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_between_first_party_modules() -> None:
    """No first-party modules import each other, directly or round a circle (lazy imports too)."""
    cycles = _cycles(_import_graph(_module_files()))
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_cycle_check_finds_a_circle() -> None:
    """The detector sees a three-module circle, a lazy import included, and ignores a line."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import x.typeonly\n"
        "def f():\n    from x.lazy import g\n"
    )
    names = _runtime_import_names(tree)
    assert "x.lazy" in names and "x.typeonly" not in names


# --- app/: one folder per concern, imports from the top down --------------------------------------

#: Modules allowed at app/'s top level: the settings, errors and version everything may use.
APP_CORE = {"__init__", "settings", "errors", "version", "vocab"}  # vocab: Role, Permission
#: app/'s rooms, top down (design/app-layout.md): a room imports only rooms of a lower rank.
#: subjects sits above measure: the lesion record is built from measurements and their masks.
APP_ROOM_RANK = {
    "cli": 10,
    "api": 9,
    "batch": 8,
    "jobs": 7,
    "outputs": 7,
    "subjects": 6,
    "measure": 5,
    "autoseg": 5,
    "archive": 4,
    "auth": 3,
    "store": 3,
    "db": 2,
}


def _app_room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in APP_ROOM_RANK else None


def test_app_top_level_holds_only_the_shared_core() -> None:
    """Every app/ module lives in its concern's folder except settings, errors, version, vocab."""
    stray = sorted(p.name for p in (ROOT / "app").glob("*.py") if p.stem not in APP_CORE)
    assert not stray, f"app/ modules outside a concern's folder: {stray}"
    rooms = {p.name for p in (ROOT / "app").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert rooms == set(APP_ROOM_RANK), f"app/ folders differ from the rooms: {sorted(rooms)}"


def test_app_rooms_import_from_the_top_down() -> None:
    """A room imports only lower rooms; the shared core imports no room."""
    modules = {m: p for m, p in _module_files().items() if m.startswith("app.")}
    upward: set[tuple[str, str]] = set()
    for name, path in modules.items():
        room = _app_room(name)
        rank = APP_ROOM_RANK[room] if room else -1
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for imported in _runtime_import_names(tree):
            target = _app_room(imported) if imported.startswith("app.") else None
            if target and target != room and APP_ROOM_RANK[target] >= rank:
                upward.add((name, f"app.{target}"))
    assert not upward, f"upward imports in app/ (importer, room): {sorted(upward)}"


def test_app_tests_mirror_the_app_rooms() -> None:
    """tests/app/ has one folder per room of app/ (no other), each a package; only helpers,
    fixtures and the whole-service test stay at its top."""
    tests_app = ROOT / "tests" / "app"
    folders = {p.name for p in tests_app.iterdir() if p.is_dir() and p.name != "__pycache__"}
    rooms = {p.name for p in (ROOT / "app").iterdir() if (p / "__init__.py").is_file()}
    assert folders <= rooms, f"test folders without an app room: {sorted(folders - rooms)}"
    assert all((tests_app / f / "__init__.py").is_file() for f in folders)
    top_tests = sorted(p.name for p in tests_app.glob("test_*.py"))
    assert top_tests == ["test_end_to_end.py"], top_tests
