"""The bundled sample study (``sample_dicom/``) and the ``python -m phantoms`` command."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydicom.uid import JPEGLSLossless

from phantoms.spec import LesionSpec, PhantomSpec

__all__ = ["SAMPLE_SPEC", "main", "write_sample"]

logger = logging.getLogger(__name__)

#: 256 x 256 x 60 portal venous CT, 1.5 x 1.5 x 2.5 mm; a 1.5 L liver with three hypodense
#: lesions centred on voxel centres: about 50 mm, 16 mm and 9 mm (the last not measurable).
SAMPLE_SPEC = PhantomSpec(
    shape_zyx=(60, 256, 256),
    spacing_zyx_mm=(2.5, 1.5, 1.5),
    liver_center_lps_mm=(-50.0, 0.0, 0.0),
    liver_semi_axes_mm=(100.0, 80.0, 45.0),
    lesions=(
        LesionSpec(center_lps_mm=(-86.25, 0.75, 1.25), semi_axes_mm=(25.0, 20.0, 14.5)),
        LesionSpec(center_lps_mm=(-11.25, -41.25, 16.25), semi_axes_mm=(8.0, 7.0, 6.0)),
        LesionSpec(center_lps_mm=(-41.25, 33.75, -13.75), semi_axes_mm=(4.6, 4.6, 4.6)),
    ),
    noise_sigma=10.0,
    seed=1,
)
SAMPLE_TRANSFER_SYNTAX = JPEGLSLossless
SAMPLE_COMMAND = "python -m phantoms sample_dicom"


def write_sample(out_dir: Path | str, spec: PhantomSpec = SAMPLE_SPEC) -> dict[str, Any]:
    """Write the sample study into ``out_dir`` and return its truth (also in ``truth.json``).

    Files: ``ct/IM0001.dcm`` ... (JPEG-LS lossless), ``labels.nii.gz`` (0 background, 1 liver
    parenchyma, 2 tumour), ``seg.dcm`` (BINARY SEG: "Liver" including its tumours, then one
    "Tumor n" segment per lesion Ln) and ``truth.json``. Older ``ct/IM*.dcm`` files are removed
    first. Every byte is reproducible.
    """
    from phantoms.dicom import write_dicom_series, write_label_nifti, write_seg
    from phantoms.model import make_phantom

    out = Path(out_dir)
    ct_dir = out / "ct"
    ct_dir.mkdir(parents=True, exist_ok=True)
    for old in ct_dir.glob("IM*.dcm"):
        old.unlink()
    phantom = make_phantom(spec)
    files = write_dicom_series(phantom, ct_dir, transfer_syntax=SAMPLE_TRANSFER_SYNTAX)
    write_label_nifti(phantom, out / "labels.nii.gz")
    write_seg(phantom, files, out / "seg.dcm", liver_includes_tumors=True)
    truth = dict(phantom.truth)
    truth["lesions"] = [
        {**lesion, "seg_segment_number": n} for n, lesion in enumerate(truth["lesions"], start=2)
    ]
    truth["files"] = {
        "series": "ct",
        "transfer_syntax_uid": str(SAMPLE_TRANSFER_SYNTAX),
        "labels": {"path": "labels.nii.gz", "liver_label": 1, "tumor_label": 2},
        "seg": {
            "path": "seg.dcm",
            "liver_segment": 1,
            "liver_includes_tumors": True,
            "tumor_segments": list(range(2, len(truth["lesions"]) + 2)),
        },
    }
    truth["generated_by"] = SAMPLE_COMMAND
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote the sample study: %d slices", len(files))
    return truth


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m phantoms OUT_DIR``: write the sample study into OUT_DIR."""
    parser = argparse.ArgumentParser(
        prog="python -m phantoms",
        description="Write the synthetic sample liver study (no patient data) into OUT_DIR.",
    )
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    truth = write_sample(args.out_dir)
    print(
        f"wrote {args.out_dir}: liver {truth['liver_volume_ml']:.3f} mL, tumour "
        f"{truth['tumor_volume_ml']:.3f} mL, burden {truth['burden_fraction']:.5f}, "
        f"{len(truth['lesions'])} lesions"
    )
    return 0
