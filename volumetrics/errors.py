"""Errors raised by the volumetrics package.

::

    VolumetricsError
     +-- MaskError (also ValueError): a mask has the wrong shape, type or spacing
"""

from __future__ import annotations


class VolumetricsError(Exception):
    """Base class of every error raised by :mod:`volumetrics`."""


class MaskError(VolumetricsError, ValueError):
    """A mask or spacing argument is unusable (shape mismatch, non-positive spacing, ...)."""
