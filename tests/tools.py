"""System tools the tests drive (promtool, prometheus, tmux): present, or a clear skip.

In CI (``CI`` set) a missing tool fails instead: ``.ci/run`` installs them, so absence
there is a bug in the CI script, not a reason to skip.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_binary(name: str, debian_package: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing in CI: .ci/run must `apt-get install -y {debian_package}`")
        pytest.skip(f"{name} not installed (Debian: apt-get install -y {debian_package})")
    return path
