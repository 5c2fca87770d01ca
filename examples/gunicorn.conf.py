"""gunicorn + uvicorn workers, with the library's ``sse`` lines in the server's own format.

    pip install gunicorn uvicorn-worker      # uvicorn_worker.UvicornWorker (uvicorn.workers is deprecated)
    gunicorn -c examples/gunicorn.conf.py 'examples.fastapi_router_app:create_app()'

The library adds no handler to the root logger and leaves the ``sse`` logger's
propagation on, so its records reach the root logger (its own fallback handler prints
only while nothing else would: not here). Giving the root logger gunicorn's handler and
format (below) makes ``sse`` lines look exactly like gunicorn's and uvicorn's::

    [2026-11-27 18:30:00 +0000] [4242] [INFO] Booting worker with pid: 4242
    [2026-11-27 18:30:01 +0000] [4242] [INFO] SSE configuration validated successfully: cleanup_interval=60s, ...
    [2026-11-27 18:31:01 +0000] [4242] [INFO] SSE cleanup completed: cleaned=0, failed=0, ...

``grep "SSE cleanup completed"`` works as the guide shows. For JSON logs, swap the
``generic`` formatter for a JSON one (e.g. ``core.logs.JsonFormatter``, or
python-json-logger): the structured fields are on each record (``record.cleaned``,
``record.sse_fields``). With several workers, set ``SSE_REDIS_URL`` so they share one
registry (docs/integration.md).
"""

from __future__ import annotations

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
try:  # the maintained worker package; uvicorn.workers is deprecated
    import uvicorn_worker  # noqa: F401
except ImportError:  # pragma: no cover - one clear line instead of gunicorn's traceback
    raise SystemExit("examples/gunicorn.conf.py: the uvicorn worker class comes from the uvicorn-worker package: "
                     "pip install uvicorn-worker") from None
worker_class = "uvicorn_worker.UvicornWorker"
graceful_timeout = 10  # SSE streams end and the worker unregisters its connections on SIGTERM
timeout = 30

# gunicorn's own error-log format (gunicorn.glogging: error_fmt / datefmt), one handler for all
FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"
DATEFMT = "[%Y-%m-%d %H:%M:%S %z]"

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"generic": {"format": FORMAT, "datefmt": DATEFMT, "class": "logging.Formatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stderr"}},
    # the root logger: where `sse` (and any other library's) records arrive
    "root": {"level": os.environ.get("LOG_LEVEL", "INFO"), "handlers": ["console"]},
    "loggers": {
        # the uvicorn worker copies gunicorn.error's handlers onto uvicorn.error
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False, "qualname": "gunicorn.error"},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False, "qualname": "gunicorn.access"},
    },
}
