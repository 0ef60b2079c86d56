"""The image archive: instances in (REST uploads, zips, STOW-RS) and the queries over them.

:mod:`.ingest` stores one instance (idempotent by SOPInstanceUID); :mod:`.uploads` unpacks REST
uploads and zips; :mod:`.studies` lists what is stored; :mod:`.attributes`, :mod:`.matching` and
:mod:`.query` are the DICOMweb QIDO-RS attribute cache, matching rules and search.
"""
