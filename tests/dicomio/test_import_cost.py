"""The measurement's hot path stays light: importing dicomio loads no heavy DICOM library."""

from __future__ import annotations

import subprocess
import sys


def test_importing_dicomio_loads_neither_pydicom_nor_simpleitk_nor_highdicom() -> None:
    """``import dicomio`` leaves pydicom, SimpleITK and highdicom unloaded until needed."""
    code = (
        "import sys, dicomio, app.pipeline\n"
        "print(sorted(m for m in ('pydicom', 'SimpleITK', 'highdicom') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_measurement_path_loads_no_scipy_and_no_assessment_engine() -> None:
    """``app.pipeline`` needs neither scipy (~0.2-0.3 s to import) nor the RECIST engine."""
    code = (
        "import sys, app.pipeline\n"
        "heavy = ('scipy', 'scipy.ndimage', 'recist.model', 'recist._engine', 'recist.assess')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_recist_name_resolves_lazily() -> None:
    """The lazy ``recist`` facade serves every name of its ``__all__`` (and no other)."""
    code = (
        "import recist\n"
        "missing = [n for n in recist.__all__ if getattr(recist, n, None) is None]\n"
        "print(missing, hasattr(recist, 'no_such_name'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] False"
