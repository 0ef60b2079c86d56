"""DICOMweb: STOW-RS store, QIDO-RS query and WADO-RS retrieve under ``/dicomweb`` (PS3.18).

:mod:`.routes` is the router; :mod:`.stow`, :mod:`.wado` and :mod:`.frames` do the work;
:mod:`.media` and :mod:`.http` hold the media types and shared HTTP helpers.
"""
