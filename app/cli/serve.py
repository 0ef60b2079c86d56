"""``liverburden serve``: the HTTP service (embedded SQLite + blob folder by default)."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.", min=0, max=65535)] = 8000,
) -> None:
    """Serve the REST API (state under $LIVERBURDEN_HOME, default ./.liverburden)."""
    import uvicorn

    from app.api.main import create_app
    from app.settings import get_settings

    settings = get_settings()
    typer.echo(
        f"liverburden: home {settings.resolved_home}, serving on http://{host}:{port} "
        "(API docs at /docs)",
        err=True,
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", proxy_headers=False)
