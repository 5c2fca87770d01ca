"""Docs that run: every ```python block of README.md and docs/*.md, whatever blocks those
files hold when the test runs, is executed as written, each in a fresh interpreter.

- A block runs as a file would, top-level ``await`` allowed (as in ``python -m asyncio``).
- If it leaves an ASGI ``app``, that app is started on a real uvicorn (its lifespan runs
  and it answers a request) and stopped, so a wrong wiring fails here.
- A block that is only a fragment says so on the line above its fence:
  ``<!-- fragment: why -->``; it must still parse. Keep them rare.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRAGMENT = re.compile(r"^<!--\s*fragment:\s*(\S.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    doc: str
    line: int  # of the opening fence
    source: str
    fragment: str | None  # why it is a fragment, or None

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def python_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)(`{3,}|~{3,})\s*(\w+)?", lines[i])
        if not fence:
            i += 1
            continue
        indent, mark, lang = fence.group(1), fence.group(2), (fence.group(3) or "").lower()
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(mark):
            end += 1
        if lang in ("python", "py"):
            above = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            why = FRAGMENT.match(above.strip())
            body = "\n".join(line[len(indent):] if line.startswith(indent) else line for line in lines[i + 1:end])
            blocks.append(Block(str(path.relative_to(ROOT)), i + 1, body + "\n", why.group(1) if why else None))
        i = end + 1
    return blocks


def all_blocks() -> list[Block]:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [b for d in docs for b in python_blocks(d)]


RUNNER = r'''
import ast, asyncio, inspect, sys
path, name = sys.argv[1], sys.argv[2]
code = compile(open(path).read(), name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
ns = {"__name__": "__main__", "__file__": path}

async def serve(app):
    import httpx
    from core.demo import serve_app, stop_server
    server, task, port = await serve_app(app, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            r = await http.get("/")
            print(f"served: GET / -> {r.status_code}")
    finally:
        await stop_server(server, task)

async def finish():
    app = ns.get("app")
    if app is not None and callable(app):
        await serve(app)
    from core.provider import SSEProvider
    await SSEProvider.shutdown()

if code.co_flags & inspect.CO_COROUTINE:
    async def main():
        await eval(code, ns)
        await finish()
    asyncio.run(main())
else:
    exec(code, ns)
    asyncio.run(finish())
print("block ok")
'''

BLOCKS = all_blocks()


def test_the_docs_have_python_blocks_and_few_fragments():
    assert len(BLOCKS) >= 5, [b.id for b in BLOCKS]
    fragments = [b for b in BLOCKS if b.fragment]
    assert len(fragments) * 4 <= len(BLOCKS), [f"{b.id}: {b.fragment}" for b in fragments]  # rare


@pytest.mark.timeout(120)
@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_block_runs(block: Block, tmp_path):
    compile(block.source, block.id, "exec", flags=__import__("ast").PyCF_ALLOW_TOP_LEVEL_AWAIT)  # every block parses
    if block.fragment:
        pytest.skip(f"a fragment: {block.fragment}")
    src = tmp_path / "block.py"
    src.write_text(block.source)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSE_", "PROMETHEUS_", "PYTHON"))}
    env["PYTHONPATH"] = str(ROOT)
    res = subprocess.run([sys.executable, "-c", RUNNER, str(src), block.id], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=100)
    assert res.returncode == 0 and "block ok" in res.stdout, (
        f"{block.id} failed:\n{block.source}\n--- stdout\n{res.stdout[-2000:]}\n--- stderr\n{res.stderr[-4000:]}")
