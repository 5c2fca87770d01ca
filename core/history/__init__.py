"""PURE fleet history: the sample, its stored form, tiers and series, trend verdicts.

The fleet appends one compact sample per interval (whichever worker holds that interval's
lease writes it; see ``StateStore.history_append``). Samples land in *tiers*: the raw tier
(one sample per interval, kept ``HISTORY_RAW_RETENTION_SECONDS``) and a rollup tier (one
point per ``HISTORY_ROLLUP_SECONDS``, kept ``HISTORY_ROLLUP_RETENTION_SECONDS``) whose points
keep ``min`` / ``max`` / ``last`` of every number, so a spike is never averaged away.

* :mod:`core.history.codec`: the sample, the stored point formats, the rollup rules (``fold``);
* :mod:`core.history.columns`: a read decoded once into a list per field, and kept between reads;
* :mod:`core.history.series`: tiers, the series of a range (buckets, the error rate, alert
  spans, coverage, marks) and its wire form;
* :mod:`core.history.trends`: the trend verdicts with their evidence.

Everything here is a function of its arguments (no clock, no I/O). Unknown is never zero:
a bucket without a sample is ``None``, a verdict without enough data is ``None``. Every
public name is importable from ``core.history`` itself.
"""

from __future__ import annotations

from ..durations import DAY, format_duration, parse_duration
from ..models import HistorySeries
from .codec import (
    INDEX,
    LEVEL_RANK,
    LEVELS,
    MAX_POINTS,
    MAX_SERIES_WORKERS,
    MAX_WORKERS,
    NUMERIC,
    ROW_ALERTS,
    ROW_LEVEL,
    ROW_WARNINGS,
    ROW_WIDTH,
    ROW_WORKERS,
    TYPES_SEPARATOR,
    WORKERS_EVERY_SECONDS,
    HistorySample,
    Point,
    fold,
    merge,
    new_rollup,
    parse_points,
    point_from_row,
    sample_from_snapshot,
    with_workers,
)
from .columns import (
    ColumnCache,
    Columns,
    _flat_columns,
    attach_workers,
    columns_from_points,
    decode_columns,
    decode_workers,
    without_workers,
)
from .series import (
    Tier,
    alert_spans,
    check_range,
    choose_tier,
    coverage,
    default_step,
    point_error_rates,
    series,
    series_columns,
    series_json,
    tiers_from_config,
)
from .trends import (
    TREND_REFRESH_SECONDS,
    TREND_TYPES,
    baseline_band,
    baseline_deviation,
    capacity_forecast,
    cleanup_duration_sustained,
    error_rate_trend,
    percentile,
    slope,
    trends,
    trends_from_json,
    trends_to_json,
)

__all__ = [
    "DAY", "INDEX", "LEVELS", "LEVEL_RANK", "MAX_POINTS", "MAX_SERIES_WORKERS", "MAX_WORKERS", "NUMERIC",
    "ROW_ALERTS", "ROW_LEVEL", "ROW_WARNINGS", "ROW_WIDTH", "ROW_WORKERS", "TREND_REFRESH_SECONDS", "TREND_TYPES",
    "TYPES_SEPARATOR", "WORKERS_EVERY_SECONDS", "ColumnCache", "Columns", "HistorySample", "HistorySeries", "Point",
    "Tier",
    "_flat_columns", "alert_spans", "attach_workers", "baseline_band", "baseline_deviation", "capacity_forecast",
    "check_range", "choose_tier", "cleanup_duration_sustained", "columns_from_points", "coverage", "decode_columns",
    "decode_workers", "default_step", "error_rate_trend", "fold", "format_duration", "merge", "new_rollup",
    "parse_duration", "parse_points", "percentile", "point_error_rates", "point_from_row", "sample_from_snapshot",
    "series", "series_columns", "series_json", "slope", "tiers_from_config", "trends", "trends_from_json",
    "trends_to_json", "with_workers", "without_workers",
]
