"""What the service hands to :mod:`reporting`, rebuilt from the database and the blob store.

:mod:`.outputs` serves one measurement's outputs (SR, SEG, key images, SDTM, FHIR, the report);
:mod:`.subject` gathers a subject's timepoints for the subject-level outputs.
"""
