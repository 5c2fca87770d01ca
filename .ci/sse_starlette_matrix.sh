#!/usr/bin/env bash
# The streaming tests against the LOWEST and the HIGHEST sse-starlette that pyproject.toml
# declares (its `sse-starlette>=LOW,<CAP` line is the one place the range is written), each
# in a small venv of its own (.venv-compat-low, .venv-compat-high; reused when present).
# Only the streaming, parity and frozen-client tests run there: they fail if events stop
# being counted, cleanup stops closing streams, or tracked stops behaving like stock.
# Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."

spec=$(python3 - <<'PY'
import re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
[line] = [d for d in deps if re.match(r"sse-starlette\b", d)]
print(line.replace(" ", ""))
PY
)
low=$(sed -n 's/.*>=\([0-9][0-9.]*\).*/\1/p' <<<"$spec")
if [ -z "$low" ]; then
  echo "sse_starlette_matrix: no lower bound in '$spec' (pyproject.toml)" >&2
  exit 1
fi
tests=(tests/service/test_streaming.py tests/service/test_parity.py tests/service/test_frozen_clients.py)

run() {  # run <name> <pip requirement>
  local venv=".venv-compat-$1" req="$2"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    echo '*' > "$venv/.gitignore"   # never committed
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check -e '.[test]'
  "$venv/bin/pip" install -q --disable-pip-version-check "$req"
  local got
  got=$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("sse-starlette"))')
  echo "== sse-starlette $got ($1 of '$spec')"
  "$venv/bin/pytest" -q -p no:cacheprovider "${tests[@]}"
}

run low "sse-starlette==$low"
run high "$spec"   # pip picks the newest release inside the declared range
