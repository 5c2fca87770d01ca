"""One widget per dashboard panel. Widgets receive data and never fetch it."""
