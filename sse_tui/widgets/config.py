"""Configuration as the service reports it, with its validation warnings."""

from __future__ import annotations

from textual.markup import escape
from textual.widgets import Static

from core.models import ConfigurationView
from sse_tui.widgets.text import set_static


class ConfigPanel(Static):
    def show(self, cfg: ConfigurationView, service_name: str) -> None:
        ping = "-" if cfg.ping_interval_seconds is None else f"{cfg.ping_interval_seconds:g}s"
        lines = [
            f"service                  [b]{escape(service_name)}[/b]",
            f"cleanup interval         [b]{cfg.cleanup_interval_seconds:g}s[/b]",
            f"cleanup batch size       [b]{cfg.cleanup_batch_size}[/b]",
            f"stale threshold          [b]{cfg.stale_threshold_seconds:g}s[/b]",
            f"ping interval            [b]{ping}[/b]",
            f"periodic cleanup         [b]{'enabled' if cfg.periodic_cleanup_enabled else 'disabled'}[/b]",
            "",
        ]
        if cfg.validation_warnings:
            lines.append(f"[b $warning]{len(cfg.validation_warnings)} validation warning(s):[/]")
            lines.extend(f"[$warning]▲ {escape(w)}[/]" for w in cfg.validation_warnings)
        else:
            lines.append("[$success]✓ configuration validated without warnings[/]")
        set_static(self, "\n".join(lines))
