"""Key names live in core/keys.py only: the Lua scripts get them from a generated prelude."""

from __future__ import annotations

import re
from importlib import resources

import pytest
import redis

from core import keys as keys_module
from core.models import ConnectionRecord
from core.store.redis import SCRIPTS, RedisStore

LUA = resources.files("core.store") / "lua"


def _lua_sources() -> dict[str, str]:
    return {name: (LUA / f"{name}.lua").read_text() for name in ("_prelude", *SCRIPTS)}


def test_no_lua_script_spells_a_key_name():
    names = set(keys_module.FIXED.values()) | set(keys_module.PARTS.values())
    for name, text in _lua_sources().items():
        code = "\n".join(line.split("--", 1)[0] for line in text.splitlines())  # comments may name keys
        assert "prefix .." not in code, f"{name}.lua builds a key from the prefix itself"
        # a literal where a key goes: the key argument of a call, or glued to another part
        at_key = re.findall(r"redis\.p?call\(\s*'[A-Za-z]+'\s*,\s*'([^']*)'", code)
        glued = re.findall(r"'([^']*)'\s*\.\.", code) + re.findall(r"\.\.\s*'([^']*)'", code)
        for literal in at_key + glued:
            assert literal not in names and not any(literal.startswith(p) for p in keys_module.PARTS.values()), \
                f"{name}.lua spells the key name {literal!r}"


async def test_renaming_a_key_in_keys_py_renames_it_in_every_script(monkeypatch, redis_url, namespace):
    monkeypatch.setitem(keys_module.FIXED, "held", "held-renamed")
    monkeypatch.setitem(keys_module.FIXED, "worker_codes", "wcode-renamed")
    monkeypatch.setitem(keys_module.PARTS, "worker_list", "wlist-renamed:")
    store = RedisStore(redis_url, namespace)
    await store.start()
    try:
        rec = ConnectionRecord(connection_id="c1", worker_id="w1", host="h", pid=1, channel="ch",
                               connected_at=1000.0, last_activity=1000.0)
        assert await store.register(rec)
        workers_held = {w.worker_id: w.connections for w in await store.workers()}
        assert await store.sync_worker("w1", ["c1"]) == (0, [])
    finally:
        await store.close()
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        prefix = "{" + namespace + "}:"
        held = r.hgetall(prefix + "held-renamed")
        code = r.hget(prefix + "wcode-renamed", "w1")
        assert code is not None and held == {code: "1"}
        assert r.lrange(prefix + "wlist-renamed:" + code, 0, -1) == ["c1"]
        for old in ("held", "wcode", "wl:" + code):
            assert not r.exists(prefix + old), f"{old} was still written under its old name"
    finally:
        r.close()
    assert workers_held == {}  # no heartbeat yet: the registry holds c1 for w1, but w1 is no worker


@pytest.mark.parametrize("bad", ["a'b", "x\ny", "sp ace"])
def test_a_key_part_that_is_not_a_plain_name_is_refused(monkeypatch, bad):
    monkeypatch.setitem(keys_module.FIXED, "held", bad)
    with pytest.raises(ValueError, match="not a plain name"):
        keys_module.lua_prelude()


def test_every_key_name_has_its_python_accessor():
    k = keys_module.Keys("ns")
    for name, suffix in keys_module.FIXED.items():
        assert getattr(k, name) == "{ns}:" + suffix
    for name, part in keys_module.PARTS.items():
        assert getattr(k, name)("x") in ("{ns}:" + part + "x",)
    assert set(keys_module.KEY_TYPES) == set(keys_module.FIXED)
    assert keys_module.SHARD_KEYS <= set(keys_module.FIXED)
