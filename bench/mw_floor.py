"""The least an ASGI layer that must see a response's content type can cost
(``python -m bench.bench_middleware --callgrind --floor``).

Issue 26 asks a non-stream route behind the tracking middleware to keep 99 % of its
throughput. Whether any design can, on a given server, is a question of floors: these
layers do less than :class:`core.middleware.SSETrackingMiddleware` and nothing it could
leave out, and the bench counts their instructions per request the same way.

* :class:`Forward`: a layer with its own ``send`` that only hands each message on (a bound
  method over a list, as the middleware's: no closure per request).
* :class:`Look`: the same, and the one look at the response's start a tracking layer
  cannot skip (the content type's first byte; the decision taken once).
* ``bench/mw_floor_native.py``'s ``LookNative``: :class:`Look` written for mypyc (a small
  class as the ``send``, plain attributes); the bench measures it as Python and compiled
  by ``mypyc`` (part of mypy, a dev dependency) into a temporary directory, for the figure
  of a compiled hot path. Nothing of the library is compiled.
"""

from __future__ import annotations

from typing import Any


def _forward(st: list[Any], message: Any) -> Any:
    return st[0](message)


_bind_forward = _forward.__get__


class Forward:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.gated = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.gated:
            await self.app(scope, receive, send)
            return
        st: list[Any] = [send, scope, self, None]
        await self.app(scope, receive, _bind_forward(st))


def _look(st: list[Any], message: Any) -> Any:
    if st[3] is False:
        return st[0](message)
    st[3] = False
    try:
        headers = message["headers"]
        name, value = headers[-1]
        if name != b"content-type":
            name, value = headers[0]
        if value[0] | 32 == 116:
            st[3] = True
    except (KeyError, IndexError, TypeError, ValueError):
        pass
    return st[0](message)


_bind_look = _look.__get__


class Look:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.gated = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.gated:
            await self.app(scope, receive, send)
            return
        st: list[Any] = [send, scope, self, None]
        await self.app(scope, receive, _bind_look(st))
        if st[3] is True:
            pass  # (a stream: the middleware's exit work would go here)
