"""Small formatting helpers shared by widgets, the CLI summary and the App."""

from __future__ import annotations

from core.models import ConnectRate

HEALTH_STYLE = {"healthy": "$success", "degraded": "$warning", "unhealthy": "$error"}
SEVERITY_STYLE = {"high": "$error", "medium": "$warning", "low": "$secondary"}


def age(seconds: float | None) -> str:
    """Compact human duration: 0s, 42s, 5m, 1h 05m, 2d 3h."""
    if seconds is None:
        return "-"
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s" if s < 600 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {(s % 3600) // 60:02d}m"
    return f"{s // 86400}d {(s % 86400) // 3600}h"


def bound(seconds: float) -> str:
    """Short bucket bound label: 0, 1m, 5m, 1h, 6h, 1d."""
    s = int(seconds)
    if s == 0:
        return "0"
    if s < 3600:
        return f"{s // 60}m" if s % 60 == 0 else f"{s}s"
    if s < 86400:
        return f"{s // 3600}h" if s % 3600 == 0 else f"{s / 3600:.1f}h"
    return f"{s // 86400}d" if s % 86400 == 0 else f"{s / 86400:.1f}d"


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def pct(value: float) -> str:
    return f"{value:.1f}%"


def size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def connects(rate: ConnectRate | None, reason: str | None = None) -> str:
    """The reconnect-storm meter in words (dashboard Overview, ``--once``): "connects 41.2/s
    (96% reconnects)"; unknown (never 0) with the server's reason when it gives one."""
    if rate is None:
        return "connects/s: unknown" + (f" ({reason})" if reason else "")
    share = "" if rate.reconnect_share_percent is None else f" ({rate.reconnect_share_percent:.0f}% reconnects)"
    return f"connects {rate.per_second:g}/s{share}"  # over the last SSE_CONNECT_RATE_WINDOW_SECONDS
