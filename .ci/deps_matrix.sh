#!/usr/bin/env bash
# The tests that exercise each dependency, against the LOWEST and the NEWEST versions the
# ranges in pyproject.toml admit (its lines are the one place the ranges are written):
# every runtime dependency (starlette, sse-starlette, redis, pydantic, pydantic-settings,
# prometheus-client, uvicorn), the dashboard extra (textual, httpx), the fastapi extra, and
# the Prometheus integrations the docs show (prometheus-fastapi-instrumentator 7.x wants
# starlette < 1, 8.x starlette 1.x; starlette-exporter). Each in a venv of its own
# (.venv-deps-low, .venv-deps-high; .venv-deps-textual-*; reused when present). Safe to rerun.
#   low:  `pip install -e .[test]`, then every lower bound pinned (name==LOW)
#   high: `pip install --upgrade --upgrade-strategy eager -e .[test]` (pip's newest in range)
# The dashboard's tests (tests/tui) run here on both textual versions, but for the SVG
# snapshot comparisons (marked svg_snapshot by tests/tui/conftest.py): their SVGs were
# recorded with the test extra's textual pin and stay in the main run.
#
# Usage: .ci/deps_matrix.sh            every dependency (slow)
#        .ci/deps_matrix.sh textual    the dashboard's tests only, on the lowest and newest
#                                      textual (the rest as the test extra installs it)
set -euo pipefail
only=${1:-all}
case "$only" in all|textual) ;; *) echo "usage: $0 [textual]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."

lows=$(python3 - <<'PY'
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = project["optional-dependencies"]
specs = list(project["dependencies"]) + extras["dashboard"] + extras["fastapi"]
specs += [d for d in extras["test"] if re.match(r"(prometheus-fastapi-instrumentator|starlette-exporter|django|litestar)\b", d)]
out = []
for spec in specs:
    m = re.match(r"\s*([A-Za-z0-9_.-]+(?:\[[^\]]*\])?)\s*(.*)", spec.split(";")[0])
    low = re.search(r">=\s*([0-9][0-9.]*)", m.group(2))
    if not low:
        raise SystemExit(f"deps_matrix: no lower bound in {spec!r} (pyproject.toml)")
    out.append(f"{m.group(1)}=={low.group(1)}")
print(" ".join(out))
PY
)
if [ "$only" = textual ]; then
  lows=$(tr ' ' '\n' <<<"$lows" | grep '^textual==')
fi

tests=(
  tests/service/test_streaming.py tests/service/test_parity.py tests/service/test_frozen_clients.py   # sse-starlette, starlette
  tests/service/test_endpoints.py tests/core/test_store_contract.py tests/core/test_config.py           # starlette, redis, pydantic(-settings)
  tests/core/test_exporters.py tests/core/test_logs_provider_fleet.py tests/ops/test_metrics_lint.py   # prometheus-client
  tests/integration tests/docs                                                                         # fastapi, instrumentator, starlette-exporter, uvicorn
  tests/frameworks                                                                                     # django, litestar (core.middleware)
  tests/tui                                                                                            # textual, httpx, plotext (the dashboard)
)
if [ "$only" = textual ]; then
  tests=(tests/tui)
fi
# the SVG comparisons stay in the main run (recorded with the test extra's textual pin)
marks=(-m "not svg_snapshot")
# installs into fresh venvs from PyPI (the main run has them); gunicorn: uvicorn-worker needs a newer uvicorn than the low bound
skip=(--deselect tests/integration/test_packaging.py::test_the_library_alone_brings_no_dashboard
      --deselect tests/integration/test_packaging.py::test_installs_beside_textual_8_2_7)

venv_for() {  # venv_for <name>
  local venv=".venv-deps-$1"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    echo '*' > "$venv/.gitignore"   # never committed
  fi
  echo "$venv"
}

report() {  # report <venv> <label>
  "$1/bin/python" - "$2" <<'PY'
import sys
from importlib.metadata import version
names = ["starlette", "sse-starlette", "fastapi", "redis", "pydantic", "pydantic-settings", "prometheus-client",
         "uvicorn", "textual", "httpx", "prometheus-fastapi-instrumentator", "starlette-exporter", "django", "litestar"]
print(f"== deps {sys.argv[1]}: " + ", ".join(f"{n} {version(n)}" for n in names), flush=True)
PY
}

start=$SECONDS
tag=$([ "$only" = textual ] && echo textual- || true)  # textual only: venvs of its own (no other pins)
low=$(venv_for "${tag}low")
"$low/bin/pip" install -q --disable-pip-version-check -e '.[test]'
# shellcheck disable=SC2086 # one argument per pin
"$low/bin/pip" install -q --disable-pip-version-check $lows 2>&1 | grep -v "^ERROR: pip's dependency resolver\|requires\|^$" || true
report "$low" "lowest"
"$low/bin/pytest" -q -p no:cacheprovider "${tests[@]}" "${skip[@]}" "${marks[@]}" \
  --deselect tests/integration/test_gunicorn_logs.py::test_sse_lines_match_gunicorns_format

high=$(venv_for "${tag}high")
"$high/bin/pip" install -q --disable-pip-version-check --upgrade --upgrade-strategy eager -e '.[test]'
report "$high" "newest"
"$high/bin/pytest" -q -p no:cacheprovider "${tests[@]}" "${skip[@]}" "${marks[@]}"
echo "== deps_matrix: $((SECONDS - start)) s"
