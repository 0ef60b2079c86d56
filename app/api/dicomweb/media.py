"""DICOMweb media types: ``Accept`` negotiation and ``multipart/related`` response bodies.

Retrieve transactions answer ``multipart/related`` messages whose parts each carry their own
``Content-Type`` (with the transfer syntax of the bytes inside). The transfer syntax a client
accepts comes from the ``Accept`` header: ``transfer-syntax=*`` takes the instance as stored,
no parameter means the media type's default (Explicit VR Little Endian for ``application/dicom``
and ``application/octet-stream``).

References
----------
DICOM PS3.18 section 8.7 (Acceptable media types, transfer syntax parameter, defaults).
RFC 2387 (The MIME Multipart/Related Content-type).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from app.errors import NotAcceptableError

__all__ = [
    "ANY_TRANSFER_SYNTAX",
    "EXPLICIT_VR_LITTLE_ENDIAN",
    "IMPLICIT_VR_LITTLE_ENDIAN",
    "DicomAcceptance",
    "FramesAcceptance",
    "MediaRange",
    "multipart_body",
    "negotiate_dicom",
    "negotiate_octets",
    "new_boundary",
    "parse_accept",
    "split_params",
]

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
ANY_TRANSFER_SYNTAX = "*"
_NATIVE = {EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN}
_WILDCARDS = {"*/*", "multipart/*"}


@dataclass(frozen=True, slots=True)
class MediaRange:
    """One entry of an ``Accept`` header: ``type/subtype`` plus lower-cased parameters."""

    media_type: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def split_params(value: str) -> tuple[str, dict[str, str]]:
    """A header value ``type/subtype; a=b; c="d"`` as (lower-cased type, {param: value})."""
    head, *rest = _split_outside_quotes(value, ";")
    params: dict[str, str] = {}
    for item in rest:
        name, _, val = item.partition("=")
        if name.strip():
            params[name.strip().lower()] = val.strip().strip('"')
    return head.strip().lower(), params


def parse_accept(header: str | None) -> list[MediaRange]:
    """The media ranges of an ``Accept`` header, highest ``q`` first (stable); ``*/*`` if none."""
    if not header or not header.strip():
        return [MediaRange("*/*")]
    ranges: list[MediaRange] = []
    for item in _split_outside_quotes(header, ","):
        if not item.strip():
            continue
        media_type, params = split_params(item)
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 1.0
        if q > 0:
            ranges.append(MediaRange(media_type, params, q))
    return sorted(ranges, key=lambda r: -r.q)


@dataclass(frozen=True, slots=True)
class DicomAcceptance:
    """Transfer syntaxes a client accepts for ``application/dicom`` parts (``*``: any)."""

    transfer_syntaxes: frozenset[str]

    def choose(self, stored: str) -> str:
        """The transfer syntax to send an instance stored in ``stored`` in."""
        if ANY_TRANSFER_SYNTAX in self.transfer_syntaxes or stored in self.transfer_syntaxes:
            return stored
        return EXPLICIT_VR_LITTLE_ENDIAN


def negotiate_dicom(header: str | None) -> DicomAcceptance:
    """What a retrieve of instances may answer; NotAcceptableError when no DICOM is accepted.

    ``multipart/related; type="application/dicom"`` without ``transfer-syntax`` asks for the
    default, Explicit VR Little Endian (instances stored compressed are decompressed); ``*/*``
    leaves the choice to the server, which sends instances as stored.
    """
    accepted: set[str] = set()
    for r in parse_accept(header):
        if r.media_type in _WILDCARDS and "type" not in r.params:
            accepted.add(ANY_TRANSFER_SYNTAX)
            continue
        inner = r.params.get("type", "application/dicom").lower()
        if r.media_type in ("multipart/related", "application/dicom") and inner in (
            "application/dicom",
            "application/*",
            "*/*",
        ):
            accepted.add(r.params.get("transfer-syntax", EXPLICIT_VR_LITTLE_ENDIAN))
    if not accepted:
        raise NotAcceptableError(
            f"cannot answer Accept: {header!r}; expected "
            "'multipart/related; type=\"application/dicom\"' (optionally with transfer-syntax)"
        )
    if not accepted & (_NATIVE | {ANY_TRANSFER_SYNTAX}):
        raise NotAcceptableError(
            f"transfer syntaxes {sorted(accepted)} are not offered; expected '*' or "
            f"{EXPLICIT_VR_LITTLE_ENDIAN} (Explicit VR Little Endian)"
        )
    return DicomAcceptance(frozenset(accepted))


@dataclass(frozen=True, slots=True)
class FramesAcceptance:
    """How to answer a request for uncompressed bytes: a multipart message or a single body."""

    multipart: bool


def negotiate_octets(header: str | None) -> FramesAcceptance:
    """Frames and bulk data go out uncompressed (Explicit VR Little Endian byte layout).

    ``multipart/related; type="application/octet-stream"`` (what OHIF and dicomweb-client send,
    with any or no ``transfer-syntax``) gets a multipart answer; a bare
    ``application/octet-stream`` gets the bytes alone.
    """
    for r in parse_accept(header):
        ts = r.params.get("transfer-syntax", EXPLICIT_VR_LITTLE_ENDIAN)
        if ts not in _NATIVE and ts != ANY_TRANSFER_SYNTAX:
            continue
        if r.media_type in _WILDCARDS and "type" not in r.params:
            return FramesAcceptance(multipart=True)
        inner = r.params.get("type", "application/octet-stream").lower()
        if r.media_type == "multipart/related" and inner in (
            "application/octet-stream",
            "application/*",
            "*/*",
        ):
            return FramesAcceptance(multipart=True)
        if r.media_type in ("application/octet-stream", "application/*"):
            return FramesAcceptance(multipart=False)
    raise NotAcceptableError(
        f"cannot answer Accept: {header!r}; frames and bulk data are offered uncompressed as "
        "'multipart/related; type=\"application/octet-stream\"' or 'application/octet-stream'"
    )


def new_boundary() -> str:
    """A random multipart boundary (no character that needs quoting)."""
    return f"liverburden-{secrets.token_hex(16)}"


def multipart_body(parts: Iterable[tuple[str, Iterable[bytes]]], boundary: str) -> Iterator[bytes]:
    """The chunks of a ``multipart/related`` body: per part its ``Content-Type``, then its bytes."""
    for content_type, chunks in parts:
        yield f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode("ascii")
        yield from chunks
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode("ascii")
