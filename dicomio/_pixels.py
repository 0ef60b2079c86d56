"""Decode the pixel data of a series into one preallocated (z, y, x) array.

Decoding goes through pydicom's pixel backends (native, RLE, deflate and big endian built in;
JPEG baseline/extended/lossless, JPEG-LS and JPEG 2000 through pylibjpeg, pyjpegls or GDCM). The
output array is allocated once; each file is decoded, rescaled and written into its slot, so the
peak memory is the volume plus one decoded file.

Output values:

- CT: Hounsfield units, ``stored * RescaleSlope + RescaleIntercept``. int16 when every slope is
  1, every intercept is integral and the values fit; float32 otherwise.
- MR and other modalities: as stored, unless a non-identity rescale is present (then float32).
- Missing slices (inserted to keep a regular grid) are filled with -1024 HU for CT, or the
  volume's minimum otherwise.

References
----------
.. [1] DICOM PS3.3 section C.11.1.1.2, "Modality LUT Operation" (Rescale Slope/Intercept).
.. [2] DICOM PS3.5 section 8, "Encoding of Pixel, Overlay and Waveform Data", and annex A.4.
"""

from __future__ import annotations

import logging
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dicomio._headers import Header
from dicomio._multiframe import FrameGeom
from dicomio.errors import CorruptFileError

__all__ = ["CT_AIR_HU", "decode_volume", "decoder_failed", "output_dtype"]

logger = logging.getLogger(__name__)

#: Fill value of inserted CT slices (air).
CT_AIR_HU = -1024
#: Largest RescaleSlope / RescaleIntercept magnitude taken as real: beyond it the output values
#: overflow float32 (and no CT or MR scanner writes such values).
MAX_RESCALE = 1e12


def _rescale(g: FrameGeom) -> tuple[float, float]:
    slope = g.rescale_slope if g.rescale_slope is not None else 1.0
    intercept = g.rescale_intercept if g.rescale_intercept is not None else 0.0
    return slope, intercept


def output_dtype(headers: Sequence[Header], geoms: Sequence[FrameGeom], modality: str) -> np.dtype:
    """Return the dtype of the output volume (see the module docstring)."""
    rescales = {_rescale(g) for g in geoms}
    identity = rescales == {(1.0, 0.0)}
    integral = all(s == 1.0 and float(i).is_integer() for s, i in rescales)
    if modality == "CT":
        if not integral:
            return np.dtype(np.float32)
        # Integral rescale: int16. Values that do not fit (possible with unsigned 16-bit data)
        # are caught while decoding, which then widens the volume to float32.
        return np.dtype(np.int16)
    if not identity:
        return np.dtype(np.float32)
    h = headers[0]
    bits = h.bits_allocated if h.bits_allocated in (8, 16, 32) else 16
    kind = "int" if h.pixel_representation == 1 else "uint"
    return np.dtype(f"{kind}{bits}")


def _one_line(exc: BaseException, path: Path) -> str:
    text = " ".join(str(exc).replace(str(path), path.name).split())
    return text[:200]


def _read_native(h: Header) -> npt.NDArray[np.generic] | None:
    """Uncompressed little-endian pixels read straight from the file, or ``None``.

    Only where the stored bytes are the values: one sample, 8 or 16 bits, unsigned (bits above
    BitsStored are masked, as pydicom does) or signed with BitsStored equal to BitsAllocated.
    """
    if h.native_pixels is None or h.samples_per_pixel != 1 or h.bits_allocated not in (8, 16):
        return None
    signed = h.pixel_representation == 1
    if signed and h.bits_stored != h.bits_allocated:
        return None
    dtype = np.dtype(f"<{'i' if signed else 'u'}{h.bits_allocated // 8}")
    count = h.rows * h.columns * h.frames
    start, length = h.native_pixels
    if length < count * dtype.itemsize:
        return None
    arr = np.fromfile(h.path, dtype=dtype, count=count, offset=start)
    if arr.size != count:
        return None
    if not signed and 0 < h.bits_stored < h.bits_allocated:
        arr &= np.asarray((1 << h.bits_stored) - 1, dtype=dtype)  # as pydicom: drop unused bits
    return arr.reshape(h.frames, h.rows, h.columns)


def decoder_failed(exc: BaseException) -> bool:
    """Whether ``exc`` is a pixel decoder's failure on bad data.

    Any Exception, or the ``PanicException`` of the Rust decoders (pyo3), which derives from
    BaseException so that ``except Exception`` does not catch it.
    """
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _decode_file(path: Path) -> npt.NDArray[np.generic]:
    import pydicom  # imported here: the header-only path never needs it
    from pydicom.pixels.utils import pixel_array

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return np.asarray(pixel_array(str(path)))
        except BaseException as first:
            if not decoder_failed(first):
                raise
            try:
                ds = pydicom.dcmread(str(path), force=True)
                return np.asarray(ds.pixel_array)
            except BaseException as exc:
                if not decoder_failed(exc):
                    raise
                raise CorruptFileError(
                    f"pixel data of {path.name!r} cannot be decoded ({_one_line(first, path)}); "
                    "expected complete, decodable pixel data"
                ) from exc


def decode_volume(
    items: Sequence[tuple[Header, int, FrameGeom]],
    slots: Sequence[int],
    shape_zyx: tuple[int, int, int],
    missing: Sequence[int],
    modality: str,
) -> npt.NDArray[np.generic]:
    """Decode every frame into its slot of a new ``shape_zyx`` array.

    Parameters
    ----------
    items
        ``(header, frame index, frame geometry)`` per frame.
    slots
        The k index of each item.
    shape_zyx
        Grid shape.
    missing
        k indices to fill (no frame there).
    modality
        ``"CT"`` selects Hounsfield units.

    Raises
    ------
    CorruptFileError
        Pixel data that cannot be decoded or does not fit the grid, or an absurd rescale.
    """
    headers = list({id(h): h for h, _, _ in items}.values())
    for h, _, geom in items:
        slope, intercept = _rescale(geom)
        if max(abs(slope), abs(intercept)) > MAX_RESCALE:
            raise CorruptFileError(
                f"{h.name} has RescaleSlope {slope:g} and RescaleIntercept {intercept:g}; expected "
                f"values within +-{MAX_RESCALE:g}"
            )
    dtype = output_dtype(headers, [g for _, _, g in items], modality)
    out: npt.NDArray[np.generic] = np.empty(shape_zyx, dtype=dtype)
    by_file: dict[int, list[tuple[int, int, FrameGeom]]] = defaultdict(list)
    header_of: dict[int, Header] = {}
    for (h, frame, geom), k in zip(items, slots, strict=True):
        by_file[id(h)].append((frame, k, geom))
        header_of[id(h)] = h
    for key, frames in by_file.items():
        h = header_of[key]
        native = _read_native(h)
        arr = native if native is not None else _decode_file(h.path)
        if arr.ndim == 2:
            arr = arr[np.newaxis]
        if arr.shape[1:] != shape_zyx[1:] or arr.shape[0] < max(f for f, _, _ in frames) + 1:
            raise CorruptFileError(
                f"pixel data of {h.name!r} decodes to shape {arr.shape}, expected frames of "
                f"{shape_zyx[1]}x{shape_zyx[2]}"
            )
        for frame, k, geom in frames:
            out = _store(out, k, arr[frame], geom, modality)
        del arr
    if missing:
        present = sorted(set(range(shape_zyx[0])) - set(missing))
        if modality == "CT":
            fill: float = CT_AIR_HU
        else:
            fill = float(min(np.min(out[k]) for k in present))
        out[list(missing)] = fill
    return out


def _store(
    out: npt.NDArray[np.generic],
    k: int,
    frame: npt.NDArray[np.generic],
    geom: FrameGeom,
    modality: str,
) -> npt.NDArray[np.generic]:
    slope, intercept = _rescale(geom)
    identity = slope == 1.0 and intercept == 0.0
    if out.dtype == np.float32:
        if identity and modality != "CT":
            out[k] = frame
        else:
            out[k] = frame.astype(np.float32) * np.float32(slope) + np.float32(intercept)
        return out
    if modality == "CT":
        values = frame.astype(np.int32) + int(intercept)
        info = np.iinfo(np.int16)
        if values.size and (int(values.min()) < info.min or int(values.max()) > info.max):
            logger.info("CT values exceed %s; widening the volume to float32", out.dtype)
            out = out.astype(np.float32)
        out[k] = values
        return out
    out[k] = frame
    return out
