"""``liverburden demo``: the main job on the embedded default, end to end, over the real HTTP API.

Starts the service in this process (SQLite + blob folder under ``$LIVERBURDEN_HOME``, in-process
job workers) on a free loopback port, then does what the reading workstation and the EDC do:
upload the bundled sample study (CT series + DICOM SEG), create a subject and its baseline
timepoint, request a measurement, follow the job's progress, and read the result and the EDC's
eligibility check. Running it again reuses what is stored (uploads and identical measurement
requests are idempotent).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli._common import fail


def _default_sample() -> Path:
    """``./sample_dicom`` (a checkout's README command), else the one beside the source tree."""
    here = Path.cwd() / "sample_dicom"
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "sample_dicom"


class _Server:
    def __init__(self) -> None:
        import uvicorn

        from app.api.main import create_app
        from app.settings import get_settings

        self.settings = get_settings()
        self.app = create_app(self.settings)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                fail("the service did not start; see the log above", code=1)
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _key(role: str) -> str:
    """A fresh API key of ``role`` for this run (hashed at rest, like any other key)."""
    from app.auth.keys import create_key
    from app.cli._db import open_database

    with open_database()() as session:
        _, key = create_key(session, role, f"demo {role}", "cli:demo")
        session.commit()
    return key


def _check(resp: Any, what: str) -> Any:
    if resp.status_code >= 400:
        detail = resp.json().get("detail", resp.text) if resp.content else resp.reason_phrase
        fail(f"{what} failed with HTTP {resp.status_code}: {detail}", code=1)
    return resp.json() if resp.content else None


def demo(
    sample: Annotated[
        Path | None, typer.Option("--sample", help="Folder with ct/ and seg.dcm.")
    ] = None,
    subject_id: Annotated[str, typer.Option("--subject", help="Trial subject id.")] = "DEMO-001",
    as_json: Annotated[bool, typer.Option("--json", help="Print the measurement JSON.")] = False,
) -> None:
    """Upload the sample study, measure it through the service, and print the EDC's view."""
    import logging

    import httpx

    sample = sample or _default_sample()
    ct = (
        sorted(p for p in (sample / "ct").iterdir() if p.is_file())
        if (sample / "ct").is_dir()
        else []
    )
    seg = sample / "seg.dcm"
    if not ct or not seg.is_file():
        fail(
            f"sample folder {sample.name!r} lacks ct/ files or seg.dcm; expected the bundled sample"
        )
    rad, edc = _key("radiologist"), _key("edc")
    with _Server() as url, httpx.Client(base_url=url, timeout=120) as http:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here
        auth = {"Authorization": f"Bearer {rad}"}
        files = [("files", (p.name, p.read_bytes(), "application/dicom")) for p in [*ct, seg]]
        up = _check(http.post("/v1/uploads", files=files, headers=auth), "upload")
        study = up["studies"][0]
        series = next(s for s in study["series"] if s["modality"] in ("CT", "MR"))
        print(
            f"uploaded study: {len(ct)} CT instances (phase {series['phase']}) and a SEG",
            flush=True,
        )
        resp = http.post(
            "/v1/subjects", json={"subject_id": subject_id, "arm": "demo"}, headers=auth
        )
        if resp.status_code != 409:
            _check(resp, "create subject")
        tps = _check(http.get(f"/v1/subjects/{subject_id}/timepoints", headers=auth), "timepoints")
        items = tps if isinstance(tps, list) else tps.get("timepoints", tps.get("items", []))
        baseline = next((t for t in items if t.get("baseline")), None)
        if baseline is None:
            # No date: the visit takes the study's StudyDate.
            body = {
                "label": "baseline",
                "study_instance_uid": study["study_instance_uid"],
                "baseline": True,
            }
            tp = _check(
                http.post(f"/v1/subjects/{subject_id}/timepoints", json=body, headers=auth),
                "create timepoint",
            )
            tp_id = tp["timepoint_id"]
        else:
            tp_id = baseline["timepoint_id"]
        seg_uid = _seg_uid(seg)
        job = _check(
            http.post(
                "/v1/measurements",
                headers=auth,
                json={
                    "timepoint_id": tp_id,
                    "series_instance_uid": series["series_instance_uid"],
                    "segmentation_sop_instance_uid": seg_uid,
                },
            ),
            "measurement request",
        )
        status: dict[str, Any] = {}
        while True:
            status = _check(http.get(f"/v1/jobs/{job['job_id']}", headers=auth), "job status")
            print(
                f"job {status['status']} {100 * float(status.get('progress') or 0):.0f} %",
                flush=True,
            )
            if status["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.3)
        if status["status"] == "failed":
            fail(f"the measurement failed: {status.get('error')}", code=1)
        result = _check(http.get(status["result_url"], headers=auth), "measurement")
        elig = _check(
            http.get(
                f"/v1/subjects/{subject_id}/eligibility", headers={"Authorization": f"Bearer {edc}"}
            ),
            "eligibility",
        )
    if as_json:
        print(json.dumps(result, indent=2))
        return
    from app.cli.measure import _format_text
    from app.measure.result import MeasurementResult

    print(_format_text(MeasurementResult.from_json(result)))
    print("EDC eligibility: " + json.dumps(elig))


def _seg_uid(path: Path) -> str:
    from dicomio import read_instance_header

    return read_instance_header(path).sop_instance_uid
