"""Batch measurement of a manifest of folders (``liverburden batch``).

:mod:`.local` reads the manifest and runs rows on a local process pool; :mod:`.celery` runs them on
the Celery workers and collects their results.
"""
