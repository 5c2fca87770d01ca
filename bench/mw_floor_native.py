"""bench/mw_floor.py's :class:`Look` written for mypyc: ``bench_middleware --floor`` calls
it as Python and as compiled by mypyc (a copy built in a temporary directory)."""

from __future__ import annotations

from typing import Any


class _NativeSend:
    def __init__(self, send: Any) -> None:
        self.send = send
        self.decided = False
        self.stream = False

    def __call__(self, message: Any) -> Any:
        if self.decided:
            return self.send(message)
        self.decided = True
        try:
            headers = message["headers"]
            name, value = headers[-1]
            if name != b"content-type":
                name, value = headers[0]
            self.stream = value[0] | 32 == 116
        except (KeyError, IndexError, TypeError, ValueError):
            pass
        return self.send(message)


class LookNative:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.gated = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.gated:
            await self.app(scope, receive, send)
            return
        w = _NativeSend(send)
        await self.app(scope, receive, w)
        if w.stream:
            pass
