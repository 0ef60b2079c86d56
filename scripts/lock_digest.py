"""The digest of what pyproject.toml asks to install, written into the lock files' headers.

``python3 scripts/lock_digest.py`` prints it; ``scripts/lock.sh`` writes it as the first line of
each lock and ``tests/test_lock.py`` recomputes it, so an edited dependency range without a new lock
fails the tests.
Only the tables that decide what gets installed enter the digest: the build requirements, the Python
requirement, the runtime dependencies and every optional extra.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

HEADER_PREFIX = "# pyproject-sha256: "


def pyproject_digest(pyproject: Path) -> str:
    """Return the sha256 (hex) of the install-relevant tables of ``pyproject``."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = data.get("project", {})
    relevant = {
        "build-system.requires": sorted(data.get("build-system", {}).get("requires", [])),
        "project.requires-python": project.get("requires-python"),
        "project.dependencies": sorted(project.get("dependencies", [])),
        "project.optional-dependencies": {
            extra: sorted(reqs) for extra, reqs in project.get("optional-dependencies", {}).items()
        },
    }
    canonical = json.dumps(relevant, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    print(pyproject_digest(root / "pyproject.toml"))
