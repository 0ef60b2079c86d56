"""``python -m tests.app._slow_worker SECONDS worker ...``: a Celery worker whose measurements wait.

Every measurement sleeps SECONDS after its job was claimed and before measuring, so that a test can
kill the worker mid-task or watch a job stay ``running``. The delay is injected here, by the
tests, into the real ``liverburden worker`` (the pool is forked from this process and inherits the
wrapped pipeline); the product has no test-only path.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from app.measure import pipeline


def _delay_measurements(delay_s: float) -> None:
    real = pipeline.measure_series

    def delayed(req: pipeline.MeasureRequest, progress: Any = None) -> pipeline.Measured:
        print(f"test worker: sleeping {delay_s:.1f} s before measuring", flush=True)
        time.sleep(delay_s)
        return real(req, progress)

    pipeline.measure_series = delayed


if __name__ == "__main__":
    _delay_measurements(float(sys.argv.pop(1)))
    sys.argv[0] = "liverburden"
    from app.cli.main import main

    main()
