"""Modal screens, one per module: cleanup / disconnect / reap confirmations, connection detail,
replay seek, help.

Every value shown in them that came from the wire (source name, addresses, ids, reasons) is
literal text (:mod:`sse_tui.literal`). Dialogs render what the App hands them; they never fetch.
"""

from __future__ import annotations

from sse_tui.widgets.dialogs.cleanup import CleanupDialog
from sse_tui.widgets.dialogs.confirm import ConfirmDialog
from sse_tui.widgets.dialogs.detail import WORKER_STATE_STYLE, ConnectionDetail, as_of_line, connection_lines, state_words
from sse_tui.widgets.dialogs.help import HELP_LEGEND, HelpScreen, help_text
from sse_tui.widgets.dialogs.seek import SeekDialog

__all__ = ["HELP_LEGEND", "WORKER_STATE_STYLE", "CleanupDialog", "ConfirmDialog", "ConnectionDetail", "HelpScreen",
           "SeekDialog", "as_of_line", "connection_lines", "help_text", "state_words"]
