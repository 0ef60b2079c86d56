"""``liverburden keys create|list|revoke``: API keys (only their hashes are stored)."""

from __future__ import annotations

from typing import Annotated

import typer

from app.vocab import Role

app = typer.Typer(
    help="Create, list and revoke API keys.", no_args_is_help=True, add_completion=False
)


@app.command("create")
def create(
    role: Annotated[
        Role, typer.Option("--role", help="Role of the new key.", case_sensitive=False)
    ],
    name: Annotated[str, typer.Option("--name", help="Who or what holds the key.")] = "",
) -> None:
    """Create a key; it is printed once, alone on the last line of standard output."""
    from app.auth.keys import create_key
    from app.cli._db import cli_actor, open_database
    from app.db import session_scope

    with session_scope(open_database()) as session:
        row, key = create_key(session, role, name, cli_actor())
        key_id = row.key_id
    typer.echo(f"created {role.value} key {key_id}" + (f" ({name})" if name else ""))
    typer.echo("store it now; it is not shown again:")
    typer.echo(key)


@app.command("list")
def list_() -> None:
    """List keys: id, role, name, created, revoked (never the key or its hash)."""
    from app.auth.keys import list_keys
    from app.cli._db import open_database
    from app.db import session_scope

    with session_scope(open_database()) as session:
        rows = list_keys(session)
        lines = [
            f"{r.key_id}  {r.role:<11}  {r.created_at:%Y-%m-%d %H:%M}  "
            f"{'revoked ' + f'{r.revoked_at:%Y-%m-%d %H:%M}' if r.revoked_at else 'active':<24}  "
            f"{r.name}"
            for r in rows
        ]
    for line in lines:
        typer.echo(line.rstrip())
    if not lines:
        typer.echo("no keys")


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (see `keys list`).")]) -> None:
    """Revoke a key by id; calls with it then get 401."""
    from app.auth.keys import revoke_key
    from app.cli._common import fail
    from app.cli._db import cli_actor, open_database
    from app.db import session_scope
    from app.errors import NotFoundError

    try:
        with session_scope(open_database()) as session:
            revoke_key(session, key_id, cli_actor())
    except NotFoundError as exc:
        fail(str(exc))
    typer.echo(f"revoked key {key_id}")
