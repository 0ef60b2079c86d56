"""The masks a measurement was made from, kept beside it as one blob.

A measurement names its lesions ``L1``, ``L2``, ... by size; :class:`MeasuredMasks` says which
voxels each of them is: ``lesions`` holds ``i`` where ``lesions[i-1]`` of the result lies, with
the tumour and liver masks the volumes were counted on. Outputs (SEG, key images) and lesion
tracking read these instead of choosing labels and matching components a second time.

The arrays cover the box the pipeline measured in (``offset_zyx`` into the series grid of
``shape_zyx``); outside it every mask is empty. ``affine`` places the grid in the patient (LPS mm),
so masks of two visits can be compared by position. The blob is a compressed NumPy ``.npz`` without
pickled objects, so reading one never runs code.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field
from zipfile import BadZipFile

import numpy as np
import numpy.typing as npt

from app.errors import ConflictError
from app.store.blobs import BlobStore

__all__ = ["MASKS_FORMAT", "MeasuredMasks", "load_kept_masks"]

#: Version of the blob's layout (its ``format`` entry); a reader refuses others.
MASKS_FORMAT = 1

BoolArray = npt.NDArray[np.bool_]
LabelArray = npt.NDArray[np.int32]


@dataclass(frozen=True, eq=False)
class MeasuredMasks:
    """Lesion labels, tumour and liver masks of one measurement, in the box it measured."""

    shape_zyx: tuple[int, int, int]
    offset_zyx: tuple[int, int, int]
    lesions: LabelArray
    tumor: BoolArray
    liver: BoolArray | None
    #: 4x4 map of the series grid's voxel index ``(k, j, i, 1)`` to patient LPS mm
    #: (:class:`dicomio.model.Geometry`); where the masks lie in the patient.
    affine: npt.NDArray[np.float64] = field(default_factory=lambda: np.eye(4))

    def __post_init__(self) -> None:
        if np.shape(self.affine) != (4, 4):
            raise ValueError("the affine must be a 4x4 matrix")
        box = self.lesions.shape
        if self.tumor.shape != box or (self.liver is not None and self.liver.shape != box):
            raise ValueError("lesion, tumour and liver arrays must share one shape")
        if any(
            o < 0 or o + b > s for o, b, s in zip(self.offset_zyx, box, self.shape_zyx, strict=True)
        ):
            raise ValueError(f"box {box} at {self.offset_zyx} lies outside {self.shape_zyx}")

    @property
    def lesion_count(self) -> int:
        """The highest lesion number (the result's lesion count)."""
        return int(self.lesions.max(initial=0))

    def _box(self) -> tuple[slice, slice, slice]:
        z, y, x = self.offset_zyx
        dz, dy, dx = self.lesions.shape
        return (slice(z, z + dz), slice(y, y + dy), slice(x, x + dx))

    def full_lesions(self) -> LabelArray:
        """Lesion numbers on the whole series grid ``(z, y, x)``."""
        out: LabelArray = np.zeros(self.shape_zyx, dtype=np.int32)
        out[self._box()] = self.lesions
        return out

    def full_tumor(self) -> BoolArray:
        """Return the tumour mask on the whole series grid."""
        out: BoolArray = np.zeros(self.shape_zyx, dtype=bool)
        out[self._box()] = self.tumor
        return out

    def full_liver(self) -> BoolArray | None:
        """Return the liver mask on the whole series grid (``None``: measured without a liver)."""
        if self.liver is None:
            return None
        out: BoolArray = np.zeros(self.shape_zyx, dtype=bool)
        out[self._box()] = self.liver
        return out

    def to_bytes(self) -> bytes:
        """Return the blob: a compressed ``.npz`` (no pickled objects)."""
        arrays: dict[str, npt.NDArray[np.generic]] = {
            "format": np.array(MASKS_FORMAT, dtype=np.int32),
            "shape_zyx": np.array(self.shape_zyx, dtype=np.int64),
            "offset_zyx": np.array(self.offset_zyx, dtype=np.int64),
            "lesions": self.lesions.astype(np.int32, copy=False),
            "tumor": self.tumor.astype(bool, copy=False),
            "affine": np.asarray(self.affine, dtype=np.float64),
        }
        if self.liver is not None:
            arrays["liver"] = self.liver.astype(bool, copy=False)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> MeasuredMasks:
        """Read a blob written by :meth:`to_bytes`.

        Raises
        ------
        ConflictError
            The blob is damaged or of another layout (the measurement must be made again).
        """
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                if int(npz["format"]) != MASKS_FORMAT:
                    raise ConflictError(
                        f"the measurement's masks have layout {int(npz['format'])}; this "
                        f"version reads layout {MASKS_FORMAT}: measure it again"
                    )
                shape = tuple(int(v) for v in npz["shape_zyx"])
                offset = tuple(int(v) for v in npz["offset_zyx"])
                return cls(
                    shape_zyx=(shape[0], shape[1], shape[2]),
                    offset_zyx=(offset[0], offset[1], offset[2]),
                    lesions=np.asarray(npz["lesions"], dtype=np.int32),
                    tumor=np.asarray(npz["tumor"], dtype=bool),
                    liver=np.asarray(npz["liver"], dtype=bool) if "liver" in npz else None,
                    affine=np.asarray(npz["affine"], dtype=np.float64),
                )
        except ConflictError:
            raise
        except (OSError, ValueError, KeyError, IndexError, EOFError, BadZipFile, zlib.error) as exc:
            raise ConflictError(
                "the measurement's stored masks cannot be read; measure it again"
            ) from exc


def load_kept_masks(blobs: BlobStore, masks_sha256: str | None) -> MeasuredMasks | None:
    """Load the masks a measurement kept (``measurements.masks_sha256``).

    ``None`` when it kept none (made before masks were kept) or its blob is gone, so callers fall
    back to the segmentation.

    Raises
    ------
    ConflictError
        The blob is there but damaged or of another layout.
    """
    if masks_sha256 is None or not blobs.exists(masks_sha256):
        return None
    with blobs.open(masks_sha256) as fh:
        return MeasuredMasks.from_bytes(fh.read())
