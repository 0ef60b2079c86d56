"""The HTTP API: :func:`create_app` builds the FastAPI application."""

from __future__ import annotations

from app.api.main import create_app

__all__ = ["create_app"]
