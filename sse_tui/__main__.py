from __future__ import annotations

from sse_tui.cli import main

raise SystemExit(main())
