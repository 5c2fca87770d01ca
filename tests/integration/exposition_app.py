"""examples/service_app.py with /metrics served by another library's multiprocess setup
(``EXPOSITION=instrumentator`` or ``starlette_exporter``), as a service using it would."""

from __future__ import annotations

import os

from examples.service_app import app

app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != "/metrics"]
if os.environ["EXPOSITION"] == "instrumentator":
    from prometheus_fastapi_instrumentator import Instrumentator

    Instrumentator().instrument(app).expose(app, endpoint="/metrics")  # PROMETHEUS_MULTIPROC_DIR: its own MultiProcessCollector
elif os.environ["EXPOSITION"] == "starlette_exporter":
    from starlette_exporter import PrometheusMiddleware, handle_metrics

    app.add_middleware(PrometheusMiddleware)
    app.add_route("/metrics", handle_metrics)  # PROMETHEUS_MULTIPROC_DIR: its own MultiProcessCollector
else:
    raise SystemExit(f"EXPOSITION must be instrumentator or starlette_exporter, not {os.environ['EXPOSITION']!r}")
