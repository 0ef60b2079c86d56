"""``liverburden track``: follow the lesions of measured visits, baseline first, like the service.

Each visit is a ``liverburden measure --json`` output with the masks it was measured on
(``--masks-out``; by default the JSON's name with ``.masks.npz``). The baseline's lesions become
the proposed record (``T1..`` targets by RECIST 1.1, ``NT1..`` the rest); each follow-up is aligned
with the visit a lesion is followed from and linked (matched, split, merged, absent, too small,
new). The proposal is printed for scripts and tests; nothing is stored.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli._common import fail


def _masks_path(result: Path) -> Path:
    return result.with_name(result.name.removesuffix(".json") + ".masks.npz")


def _load(result_path: Path, masks_path: Path) -> tuple[dict[str, Any], Any]:
    from app.errors import ConflictError
    from app.measure.masks import MeasuredMasks

    try:
        doc = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{result_path.name} is not a readable measure JSON ({type(exc).__name__})")
    if not isinstance(doc, dict) or not isinstance(doc.get("lesions"), list):
        fail(f"{result_path.name} is not a measure JSON; expected 'liverburden measure --json'")
    try:
        masks = MeasuredMasks.from_bytes(masks_path.read_bytes())
    except OSError as exc:
        fail(
            f"the masks of {result_path.name} ({masks_path.name}) cannot be read "
            f"({exc.strerror or type(exc).__name__}); write them with "
            "'liverburden measure --masks-out'"
        )
    except ConflictError as exc:
        fail(f"{masks_path.name}: {exc}")
    import numpy as np

    voxels = np.bincount(masks.lesions.ravel(), minlength=len(doc["lesions"]) + 1)[1:].tolist()
    if voxels != [les.get("voxels") for les in doc["lesions"]]:
        fail(
            f"{masks_path.name} does not hold the lesions of {result_path.name} (their voxel "
            "counts differ): the masks are of another measurement"
        )
    return doc, masks


def _reading_dict(r: Any) -> dict[str, Any]:
    return {k: v for k, v in asdict(r).items() if v is not None and v != {}}


def track(
    results: Annotated[
        list[Path], typer.Argument(help="Measure JSONs of one patient, the baseline first.")
    ],
    masks: Annotated[
        list[Path] | None,
        typer.Option("--masks", help="Masks of each JSON, in the same order (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the proposal as JSON.")] = False,
) -> None:
    """Propose the lesion record at the baseline and link every follow-up to it."""
    from app.subjects.tracking import (
        LesionRef,
        NewRecordLesion,
        link_refs,
        new_lesions,
        propose_record,
    )

    if len(results) < 1:
        fail("give at least the baseline's measure JSON")
    mask_paths = list(masks or [])
    if mask_paths and len(mask_paths) != len(results):
        fail(f"{len(mask_paths)} --masks for {len(results)} measure JSONs; give one per JSON")
    visits = [
        _load(r, mask_paths[n] if mask_paths else _masks_path(r)) for n, r in enumerate(results)
    ]
    base_result, base_masks = visits[0]
    rows, base_readings, summary = propose_record(base_result, base_masks)
    refs = [
        LesionRef(NewRecordLesion(r.lesion_id, r.role, r.organ), "v0", r.measurement_lesion_id)
        for r in rows
    ]
    new_refs: list[Any] = []
    measured: dict[str, tuple[dict[str, Any], Any]] = {"v0": visits[0]}
    out_visits: list[dict[str, Any]] = [
        {"file": results[0].name, "readings": [_reading_dict(r) for r in base_readings]}
    ]
    next_new = 1
    for n, (result, kept) in enumerate(visits[1:], start=1):
        readings: dict[str, Any] = {}
        used: set[int] = set()
        link_refs(refs, measured, result, kept, readings, used, True)
        link_refs(new_refs, measured, result, kept, readings, used, True)
        found = new_lesions(result, kept, used, next_new, readings)
        next_new += len(found)
        measured[f"v{n}"] = (result, kept)
        new_refs += [
            LesionRef(
                NewRecordLesion(f.lesion_id, "new", f.organ), f"v{n}", f.measurement_lesion_id
            )
            for f in found
        ]
        out_visits.append(
            {
                "file": results[n].name,
                "readings": [_reading_dict(r) for r in readings.values()],
                "new_lesions": [_reading_dict(f) for f in found],
            }
        )
    proposal = {
        "lesions": [_reading_dict(r) for r in rows],
        "summary": summary,
        "visits": out_visits,
    }
    if as_json:
        json.dump(proposal, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    typer.echo("lesion record (proposed)")
    for r in rows:
        typer.echo(
            f"  {r.lesion_id:<5} {r.role:<10} {r.organ:<8} measured as {r.measurement_lesion_id}"
        )
    for visit in out_visits[1:]:
        typer.echo(f"{visit['file']}")
        for reading in visit["readings"]:
            ev = reading.get("evidence", {})
            value = (
                f"{reading['diameter_mm']:.1f} mm"
                if "diameter_mm" in reading
                else (
                    "fragments " + " + ".join(f"{v:.1f}" for v in reading["fragments_mm"]) + " mm"
                    if "fragments_mm" in reading
                    else str(reading.get("status"))
                )
            )
            where = f" <- {reading['source_lesion_id']}" if "source_lesion_id" in reading else ""
            typer.echo(f"  {reading['lesion_id']:<5} {ev.get('kind', ''):<9} {value}{where}")
