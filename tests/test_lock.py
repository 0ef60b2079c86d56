"""The lock files agree with pyproject.toml, and the environment the tests run in is the locked one.

``requirements.lock`` (runtime) and ``requirements-test.lock`` (runtime + the ``test`` extra) are
written by ``scripts/lock.sh``. An edited dependency range without a new lock, a lock edited by hand
so that a pin leaves its range, or a test environment that drifted from the lock fails here.
"""

from __future__ import annotations

import importlib.util
import os
import re
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO_ROOT

RUNTIME_LOCK = REPO_ROOT / "requirements.lock"
TEST_LOCK = REPO_ROOT / "requirements-test.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._\-]*)==([^\s\\;]+)")


def _lock_digest_module() -> ModuleType:
    path = REPO_ROOT / "scripts" / "lock_digest.py"
    spec = importlib.util.spec_from_file_location("lock_digest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pins(lock: Path) -> dict[str, Version]:
    """Map canonical distribution name to pinned version, for each ``name==version`` line."""
    pins: dict[str, Version] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            pins[canonicalize_name(match.group(1))] = Version(match.group(2))
    return pins


def _pyproject() -> dict[str, object]:
    import tomllib

    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _requirements(extra: str | None) -> list[Requirement]:
    data = _pyproject()
    project = data["project"]
    assert isinstance(project, dict)
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for r in data["build-system"]["requires"]]  # type: ignore[index]
    if extra is not None:
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, TEST_LOCK], ids=lambda p: p.name)
def test_lock_header_names_the_current_pyproject(lock: Path) -> None:
    digest = _lock_digest_module()
    first = lock.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(digest.HEADER_PREFIX), f"{lock.name}: no pyproject digest on line 1"
    want = digest.pyproject_digest(REPO_ROOT / "pyproject.toml")
    assert first.removeprefix(digest.HEADER_PREFIX).strip() == want, (
        f"{lock.name} was generated from another pyproject.toml: run scripts/lock.sh"
    )


def test_pyproject_digest_changes_with_a_dependency_range(tmp_path: Path) -> None:
    digest = _lock_digest_module()
    text = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    changed = text.replace('"numpy>=1.26,<3"', '"numpy>=1.26,<2.5"')
    assert changed != text
    (tmp_path / "pyproject.toml").write_text(changed, encoding="utf-8")
    assert digest.pyproject_digest(tmp_path / "pyproject.toml") != digest.pyproject_digest(
        REPO_ROOT / "pyproject.toml"
    )


@pytest.mark.parametrize(
    ("lock", "extra"), [(RUNTIME_LOCK, None), (TEST_LOCK, "test")], ids=["runtime", "test"]
)
def test_every_pyproject_requirement_is_pinned_inside_its_range(
    lock: Path, extra: str | None
) -> None:
    pins = _pins(lock)
    problems = []
    for req in _requirements(extra):
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req.name}: not in {lock.name}")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req.name}=={pins[name]} is outside {req.specifier}")
    assert not problems, problems


def test_every_lock_line_carries_a_hash() -> None:
    for lock in (RUNTIME_LOCK, TEST_LOCK):
        blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text(encoding="utf-8"))
        for block in blocks:
            if _PIN.match(block):
                first = block.splitlines()[0]
                assert "--hash=sha256:" in block, f"{lock.name}: {first} has no hash"


def test_runtime_lock_is_the_test_lock_without_the_test_tools() -> None:
    """The service runs on exactly the versions the tests ran on."""
    runtime, test = _pins(RUNTIME_LOCK), _pins(TEST_LOCK)
    differ = {
        name: (str(pin), str(test.get(name)))
        for name, pin in runtime.items()
        if test.get(name) != pin
    }
    assert not differ, differ


@pytest.mark.skipif(
    not os.environ.get("LIVERBURDEN_LOCK_FILE"),
    reason="not run through scripts/test.sh (LIVERBURDEN_LOCK_FILE unset): environment not locked",
)
def test_the_running_environment_is_the_locked_one() -> None:
    lock = Path(os.environ["LIVERBURDEN_LOCK_FILE"])
    installed = {
        canonicalize_name(dist.metadata["Name"]): Version(dist.version)
        for dist in metadata.distributions()
    }
    wrong = {
        name: (str(pinned), str(installed.get(name)))
        for name, pinned in _pins(lock).items()
        if installed.get(name) != pinned and name not in {"pip"}
    }
    assert not wrong, f"installed versions differ from {lock.name} (pinned, installed): {wrong}"
