"""Configuration as the service reports it, with its validation warnings."""

from __future__ import annotations

from textual.widgets import Static

from sse_tui import fmt
from sse_tui.literal import line, lines
from sse_tui.model import View
from sse_tui.widgets.common import apply_freshness, set_content
from sse_tui.widgets.panel import Panel


class ConfigPanel(Panel, Static):
    def show_view(self, view: View) -> None:
        apply_freshness(self, view.assessment)
        s = view.stats
        if s is None:
            return
        cfg = s.configuration
        th = view.thresholds
        ping = "-" if cfg.ping_interval_seconds is None else f"{cfg.ping_interval_seconds:g}s"

        def published(value: float | None, shown: float) -> str:
            return f"{fmt.bound(shown)}" + ("" if value is not None else " (guide default)")

        rows = [
            ("service", s.service_name),
            ("cleanup interval", f"{cfg.cleanup_interval_seconds:g}s"),
            ("cleanup batch size", str(cfg.cleanup_batch_size)),
            ("stale threshold", f"{cfg.stale_threshold_seconds:g}s"),
            ("long-lived from", published(cfg.long_lived_seconds, th.long_lived_seconds)),
            ("very old from", published(cfg.very_old_seconds, th.very_old_seconds)),
            ("heartbeat TTL", published(cfg.worker_heartbeat_ttl_seconds, th.heartbeat_ttl_seconds)),
            # no default stands in for it (sse_tui.model.Thresholds.queue_current_within)
            ("not reading after", "? (not published)" if th.not_reading_seconds is None
             else f"{th.not_reading_seconds:g}s"),
            ("ping interval", ping),
            ("periodic cleanup", "enabled" if cfg.periodic_cleanup_enabled else "disabled"),
        ]
        out = [line(f"{label:<25}", (value, "bold")) for label, value in rows]
        out.append(line(""))
        if cfg.validation_warnings:
            out.append(line((f"{len(cfg.validation_warnings)} validation warning(s):", "bold $warning")))
            out.extend(line(("▲ ", "$warning"), (w, "$warning")) for w in cfg.validation_warnings)
        else:
            out.append(line(("✓ configuration validated without warnings", "$success" if view.assessment.trusted else "dim")))
        if s.health_rules:
            out.append(line(""))
            out.append(line(("Health rules in force (the service's own table)", "bold")))
            for r in s.health_rules:
                hold = f" for {r.for_seconds:g}s" if r.for_seconds else ""
                setting = f"  SSE_{r.config_field}" if r.config_field else ""
                style = "$error" if r.kind == "alert" else "$warning"
                out.append(line((f"{r.kind.upper():<8}", style), (r.type, "bold"), " ",
                                (f"{r.input} {r.comparison} {r.threshold}{hold}", ""), (setting, "dim")))
        set_content(self, lines(out))
