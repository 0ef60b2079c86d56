"""The FastAPI application: :func:`create_app` wires settings, database, blob store and jobs.

At start (lifespan) logging is configured once, the home folder is created, the Alembic migrations
are applied, the job engine starts (requeueing jobs of dead workers and running queued ones); at
the end the engine finishes running jobs and the database engine is disposed.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from app.api.authfirst import AuthFirstMiddleware
from app.api.dicomweb import routes as dicomweb
from app.api.limits import BodySizeLimitMiddleware
from app.api.problems import UnexpectedErrorMiddleware, install_problem_handlers
from app.api.responses import install_openapi_defaults
from app.api.routes import (
    admin,
    autoseg,
    eligibility,
    health,
    lesions,
    measurements,
    outputs,
    recist,
    segmentations,
    subjects,
    uploads,
)
from app.batch.reprocess import finish_runs_in_workers
from app.db import dispose_engine, get_engine, upgrade_database
from app.jobs.engine import JobContext
from app.jobs.engines import make_job_engine
from app.settings import Settings, get_settings
from app.store.blobs import BlobStore
from app.version import ALGORITHM_VERSION

__all__ = ["configure_logging", "create_app"]

logger = logging.getLogger(__name__)
_LOGGING_LOCK = threading.Lock()
_logging_configured = False

DESCRIPTION = """Liver tumour burden and RECIST 1.1 measurements for a trial's imaging core lab.

Every route but `/healthz` needs `Authorization: Bearer <api key>` (create keys with
`liverburden keys create --role ...`). Errors are RFC 9457 `application/problem+json`.
"""


def configure_logging(level: str) -> None:
    """Configure the root logger once per process (no-op when a handler is already set)."""
    global _logging_configured
    with _LOGGING_LOCK:
        if _logging_configured:
            return
        _logging_configured = True
        root = logging.getLogger()
        if not root.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            root.addHandler(handler)
            root.setLevel(level.upper())
        # Third-party libraries that narrate at INFO (font subsetting for PDFs, matplotlib).
        for noisy in ("fontTools", "matplotlib", "PIL"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service application for ``settings`` (default: :func:`get_settings`)."""
    settings = settings or get_settings()
    url = settings.resolved_database_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        settings.resolved_home.mkdir(parents=True, exist_ok=True)
        await run_in_threadpool(upgrade_database, url)
        engine = get_engine(url)
        ctx = JobContext.for_engine(
            engine, BlobStore(settings.blob_dir), settings.resolved_home / "tmp"
        )
        app.state.session_factory = ctx.session_factory
        app.state.read_session_factory = ctx.reads
        app.state.blobstore = ctx.blobstore
        finish_runs_in_workers()  # a reprocessing run ends with its last re-measurement
        jobs = make_job_engine(settings, ctx)
        await run_in_threadpool(jobs.start, settings.job_stale_s)
        app.state.jobs = jobs
        logger.info("liverburden service ready (algorithm %s)", ALGORITHM_VERSION)
        try:
            yield
        finally:
            await run_in_threadpool(jobs.shutdown)
            dispose_engine(url)

    app = FastAPI(
        title="liverburden",
        version=ALGORITHM_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(AuthFirstMiddleware)  # 401/403 before any body is read
    app.add_middleware(UnexpectedErrorMiddleware)  # outermost: a 500 problem, connection kept
    install_problem_handlers(app)
    install_openapi_defaults(app)
    for module in (
        health,
        uploads,
        subjects,
        lesions,
        segmentations,
        measurements,
        recist,
        eligibility,
        admin,
    ):
        app.include_router(module.router)
    app.include_router(outputs.router)
    app.include_router(autoseg.router)  # semi-automatic segmentation (issue 8)
    app.include_router(dicomweb.router)
    return app
