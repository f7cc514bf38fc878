"""bench/part_coldstart.py's HTTP stacks (issue 17, point 4): each is timed in a fresh interpreter
after what its row says was imported first, and builds the client it names."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from harness import LAYER, ROOT
from part_coldstart import STACKS, import_once, lambda_env, layer_modules

# What each stack's build leaves imported (and what it must not): the sender's own stack is
# httpx over httpx-aiohttp over aiohttp; httpx's default transport is httpcore, without aiohttp.
CHECKS = {
    "sender": (("httpx", "httpx_aiohttp", "aiohttp.connector", "webhook_resend.delivery.sender"), ()),
    "httpx_default": (("httpx", "httpcore"), ("aiohttp", "httpx_aiohttp")),
}


@pytest.mark.parametrize("name", sorted(STACKS))
def test_each_http_stack_builds_its_client_in_a_fresh_interpreter(name: str) -> None:
    before, module, build = STACKS[name]
    present, absent = CHECKS[name]
    check = (
        f"missing = [m for m in {present!r} if m not in sys.modules]\n"
        f"extra = [m for m in {absent!r} if m in sys.modules]\n"
        "assert not missing and not extra, (missing, extra)\n"
    )
    with tempfile.TemporaryDirectory() as pycache:
        env = lambda_env(None, ROOT, Path(pycache))
        timed = import_once(
            module, [str(LAYER)], ROOT, env, layer_modules(), [], build + check, before=before
        )
    # Refused as not in the layer: only what httpx imports for its command line when it is there.
    assert set(timed.blocked) <= {"click", "rich", "pygments"}
    assert 0 < timed.entry_ms <= timed.total_ms
