"""The HTTP API: :func:`app.api.main.create_app` builds the FastAPI application.

The package itself imports nothing, so domain modules can use :mod:`app.api.schemas` without
loading the routes (and so without an import cycle).
"""
