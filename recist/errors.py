"""Errors raised by the RECIST package.

::

    RecistError
     +-- RecistInputError (also ValueError): the measurements or the assessment input break a rule
     +-- MeasurementError (also ValueError): a mask or caliper line cannot be measured
"""

from __future__ import annotations


class RecistError(Exception):
    """Base class of every error raised by :mod:`recist`."""


class RecistInputError(RecistError, ValueError):
    """The assessment input is invalid; the message names the lesion or timepoint at fault."""


class MeasurementError(RecistError, ValueError):
    """A lesion mask or caliper line cannot be measured (empty mask, bad spacing, ...)."""
