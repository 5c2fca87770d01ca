"""Every SSE_* variable is documented where a newcomer looks: README and docs/configuration.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import SSEConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("doc", ["README.md", "docs/configuration.md"])
def test_every_variable_documented(doc):
    text = (ROOT / doc).read_text()
    missing = [f"SSE_{name}" for name in SSEConfig.model_fields if f"`SSE_{name}`" not in text]
    assert missing == [], f"{doc} does not document {missing}"
