"""Is the package these modules were imported through sse-dash's own ``core``?

Another distribution can install a ``core`` package over sse-dash's files (pip lets it):
its ``core/__init__.py`` then sits beside sse-dash's modules. The entry modules of the
library (:mod:`core.provider`, :mod:`core.integration`) import this module, which checks
at import, so that mix fails with one line naming the file, not deep inside. (A ``core``
that comes first on ``sys.path`` never runs this code: ``sse-dash`` and ``sse-demo``
check for it before importing anything of ``core``, see ``sse_dash_entry``.)
"""

from __future__ import annotations

import sys

__all__ = ["MARKER", "require_own_package"]

MARKER = "SSE_DASH_CORE"  # the attribute sse-dash's core/__init__.py sets first (sse_dash_entry reads the same)


def require_own_package() -> None:
    pkg = sys.modules.get(__name__.rpartition(".")[0])
    if pkg is None or getattr(pkg, MARKER, None) is True:
        return
    where = getattr(pkg, "__file__", None) or "a directory named core"
    raise ImportError(f"sse-dash: {where} is not sse-dash's `core/__init__.py`: another distribution (or a "
                      f"directory of your own) provides a `core` package in the same place as sse-dash's modules "
                      f"({__file__}); install sse-dash in a virtual environment without it")


require_own_package()
