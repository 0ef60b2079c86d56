"""``liverburden audit verify|list``: the hash-chained audit trail."""

from __future__ import annotations

import json
from typing import Annotated

import typer

app = typer.Typer(
    help="Verify and list the audit trail.", no_args_is_help=True, add_completion=False
)


@app.command("verify")
def verify() -> None:
    """Recompute the hash chain; exit 1 and name the events when any was edited or deleted."""
    from app.auth import audit
    from app.cli._db import open_database
    from app.db import session_scope

    with session_scope(open_database()) as session:
        report = audit.verify(session)
    if report.ok:
        typer.echo(f"audit trail intact: {report.events} events, head seq {report.head_seq}")
        return
    for problem in report.problems:
        typer.echo(f"BROKEN: {problem}")
    typer.echo(f"audit trail broken: {len(report.problems)} problem(s) in {report.events} events")
    raise typer.Exit(1)


@app.command("list")
def list_(
    after: Annotated[int, typer.Option("--after", help="Only events after this seq.")] = 0,
    limit: Annotated[int, typer.Option("--limit", help="At most this many events.")] = 50,
    action: Annotated[str | None, typer.Option("--action", help="Only this action.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print events in chain order."""
    from app.auth import audit
    from app.cli._db import open_database
    from app.db import session_scope

    with session_scope(open_database()) as session:
        for e in audit.iter_events(session, after_seq=after, limit=limit, action=action):
            if as_json:
                typer.echo(
                    json.dumps(
                        {
                            "seq": e.seq,
                            "ts": e.ts,
                            "actor": e.actor,
                            "action": e.action,
                            "entity_type": e.entity_type,
                            "entity_id": e.entity_id,
                            "details": e.details,
                            "prev_hash": e.prev_hash,
                            "hash": e.hash,
                        },
                        sort_keys=True,
                    )
                )
            else:
                typer.echo(
                    f"{e.seq:>6}  {e.ts}  {e.actor:<24}  {e.action:<28}  "
                    f"{e.entity_type}:{e.entity_id}"
                )
