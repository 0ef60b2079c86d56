"""The measurement's hot path stays light: importing dicomio loads no heavy DICOM library."""

from __future__ import annotations

import subprocess
import sys


def _python(code: str) -> str:
    """What ``code`` prints in a fresh interpreter (stripped)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_importing_dicomio_loads_neither_pydicom_nor_simpleitk_nor_highdicom() -> None:
    """``import dicomio`` leaves pydicom, SimpleITK and highdicom unloaded until needed."""
    code = (
        "import sys, dicomio, app.measure.pipeline\n"
        "print(sorted(m for m in ('pydicom', 'SimpleITK', 'highdicom') if m in sys.modules))"
    )
    assert _python(code) == "[]"


def test_measurement_path_loads_no_scipy() -> None:
    """``app.measure.pipeline`` does not need scipy (~0.2-0.3 s to import; cc3d labels lesions)."""
    code = (
        "import sys, app.measure.pipeline\n"
        "heavy = ('scipy', 'scipy.ndimage')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    assert _python(code) == "[]"


def test_preload_loads_the_readers_libraries() -> None:
    """``dicomio.preload()`` (workers, before forking) loads what first use would load."""
    code = (
        "import sys, dicomio\n"
        "dicomio.preload()\n"
        "wanted = ('SimpleITK', 'pydicom', 'highdicom', 'dicomio.seg', 'dicomio.rtstruct')\n"
        "print(sorted(m for m in wanted if m not in sys.modules))"
    )
    assert _python(code) == "[]"


#: Libraries that cost a tenth of a second or more to import; the facades defer them to the
#: functions that draw, write DICOM objects or filter images.
_HEAVY = (
    "matplotlib",
    "highdicom",
    "pydicom",
    "pandas",
    "lifelines",
    "scipy",
    "skimage",
    "SimpleITK",
)


def test_importing_the_domain_packages_loads_no_heavy_library() -> None:
    """``import recist, segmentation, reporting`` (eager facades) loads none of ``_HEAVY``."""
    code = (
        "import sys, recist, segmentation, reporting\n"
        f"print(sorted(m for m in {_HEAVY!r} if m in sys.modules))"
    )
    assert _python(code) == "[]"


def test_recist_assess_is_the_function_whatever_was_imported_first() -> None:
    """``recist.assess`` is the assessment function even after the modules behind it were
    imported directly (a submodule of that name would shadow it)."""
    code = (
        "import recist.assessment, recist.model\n"
        "from recist import assess, Options\n"
        "import recist\n"
        "missing = [n for n in recist.__all__ if getattr(recist, n, None) is None]\n"
        "print(callable(assess), assess is recist.assessment.assess, missing)"
    )
    assert _python(code) == "True True []"
