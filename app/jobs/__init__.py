"""Measurement jobs: the job table is the source of truth, engines only carry job ids.

:mod:`.engine` holds the engine protocol, the in-process engine and the job runner; the Celery
engine, its tasks and its sweep of lost work are in :mod:`.celery`.
"""
