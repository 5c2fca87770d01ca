"""A Django ASGI app (``uvicorn tests.frameworks.app_django:app``): async views returning
``StreamingHttpResponse(..., content_type="text/event-stream")``, tracked by the middleware."""

from __future__ import annotations

import django
from django.conf import settings

settings.configure(DEBUG=False, SECRET_KEY="sse-dash-tests", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__,
                   MIDDLEWARE=[], INSTALLED_APPS=[], USE_TZ=True)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402 - after settings
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

from core.middleware import SSETrackingMiddleware, with_monitoring  # noqa: E402
from core.provider import SSEProvider  # noqa: E402
from tests.frameworks.common import failing_frames, frames, steady_frames  # noqa: E402


async def events(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(frames(), content_type="text/event-stream")


async def steady(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(steady_frames(), content_type="text/event-stream")


async def boom(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(failing_frames(), content_type="text/event-stream")


async def json_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [path("events", events), path("steady", steady), path("boom", boom), path("json", json_view)]

provider = SSEProvider()
app = SSETrackingMiddleware(with_monitoring(get_asgi_application(), provider), provider)
