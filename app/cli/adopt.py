"""``liverburden adopt VERSION --reason TEXT``: serve a reprocessed algorithm version's results.

The explicit, audited admin action of issue 18 (the same as ``POST
/v1/algorithm-versions/{version}/adopt``): the measurements ``liverburden reprocess`` made under
VERSION become their timepoints' measurements of record and the lesions are linked again. A line
per timepoint whose record changed; exit 2 when there is nothing to adopt (already adopted, never
reprocessed) or no reason.
"""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli._common import fail


def adopt(
    version: Annotated[str, typer.Argument(help="The algorithm version to adopt, e.g. 0.3.0.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
) -> None:
    """Make the service serve the measurements reprocessed under VERSION (audited)."""
    from app.batch.adopt import adopt_version
    from app.cli._db import cli_actor, open_database
    from app.db.session import session_scope
    from app.errors import ConflictError, InvalidRequestError
    from app.settings import get_settings
    from app.store.blobs import BlobStore

    factory = open_database()
    blobs = BlobStore(get_settings().blob_dir)
    try:
        with session_scope(factory) as session:
            done = adopt_version(session, blobs, version, reason, cli_actor())
    except (ConflictError, InvalidRequestError) as exc:
        fail(str(exc))
    for tp in done["timepoints"]:
        print(
            f"{tp['subject_id']} {tp['timepoint']}: record {tp['record_before']} -> "
            f"{tp['record_after']}; lesions {tp['tracking']}"
        )
    print(
        f"algorithm version {done['algorithm_version']} adopted: "
        f"{done['reprocessed_measurements']} reprocessed measurement(s), "
        f"{done['records_switched']} record(s) switched, {done['timepoints_kept']} timepoint(s) "
        "kept as confirmed"
    )
