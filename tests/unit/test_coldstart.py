"""Every function's entry module leaves the garbage collector running, with what its imports built
frozen (webhook_resend.coldstart), and imports none of the heavy modules it does not use (issue 17,
`make bench`'s cold start part): each is imported in a fresh
interpreter, as Lambda does."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.cfn import load_template

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import gc, json, sys\n"
    "sys.path[:0] = {paths!r}\n"
    "import {module}\n"
    "found = [gc.isenabled(), gc.get_freeze_count(), sys.modules['{module}'].__file__, sorted(sys.modules)]\n"
    "print(json.dumps(found))\n"
)
# Modules an entry module must not import, with what each cost the cold start it was on.
# Powertools' batch utility: its package imports every event data class and asyncio (15-25 ms). The
# SQS consumers use it (STYLE.md: Powertools' BatchProcessor); the other functions must not.
NO_BATCH = ("aws_lambda_powertools.utilities.batch",)
# Powertools' parser: imported after pydantic (which every function but the console imports), the
# batch utility builds every one of Powertools' parser models too (~100 ms). No function may.
NO_PARSER = ("aws_lambda_powertools.utilities.parser",)
# Every Powertools event data class (~40 modules): only the HTTP resolver and the batch utility need them.
NO_DATA_CLASSES = ("aws_lambda_powertools.utilities.data_classes",)
NO_ASYNCIO = ("asyncio",)  # ~10 ms, for the functions that run no event loop
NO_HTTP = ("httpx", "aiohttp", "httpx_aiohttp")  # the delivery's HTTP stack: httpx alone ~12 ms
NOT_IMPORTED: dict[str, tuple[str, ...]] = {
    "admin": NO_BATCH + NO_PARSER + NO_HTTP,
    "authorizer": NO_BATCH + NO_PARSER + NO_DATA_CLASSES + NO_ASYNCIO + NO_HTTP,
    "console": NO_BATCH + NO_PARSER + NO_DATA_CLASSES + NO_ASYNCIO + NO_HTTP,
    # The dead-letter consumer ends pairs without sending anything: no HTTP stack (it imported all
    # of it, through the deliverer, for one string).
    "dead_letter": NO_PARSER + NO_HTTP,
    # The delivery and notify functions import aiohttp when they build their first sender.
    "deliver": (*NO_PARSER, "aiohttp", "httpx_aiohttp"),
    "fanout": NO_PARSER + NO_HTTP,
    "management": NO_BATCH + NO_PARSER + NO_HTTP,
    "notify": (*NO_PARSER, "aiohttp", "httpx_aiohttp"),
    "resend_api": NO_BATCH + NO_PARSER + NO_HTTP,
    "status": NO_BATCH + NO_PARSER + NO_HTTP,
    "waker": NO_BATCH + NO_PARSER + NO_DATA_CLASSES + NO_ASYNCIO + NO_HTTP,
}


def _entry_modules() -> list[tuple[str, Path]]:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    found = []
    for resource in resources.values():
        if resource["Type"] == "AWS::Serverless::Function":
            props = resource["Properties"]
            found.append((props["Handler"].rpartition(".")[0], ROOT / props["CodeUri"]))
    return sorted(found)


def test_every_function_is_probed() -> None:
    assert len(_entry_modules()) == 11


@functools.cache
def _probe(module: str, code_dir: Path) -> tuple[bool, int, str, list[str]]:
    """(collector enabled, objects frozen, the module's file, every module imported) after a fresh
    interpreter imported the entry module."""
    paths = [str(code_dir), str(ROOT / "layers" / "common")]
    done = subprocess.run(  # noqa: S603 - our interpreter, our snippet
        [sys.executable, "-c", PROBE.format(paths=paths, module=module)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    enabled, frozen, path, modules = json.loads(done.stdout.strip().splitlines()[-1])
    return enabled, frozen, path, modules


@pytest.mark.parametrize(("module", "code_dir"), _entry_modules(), ids=lambda v: str(v).rsplit("/", 1)[-1])
def test_entry_module_leaves_the_collector_on_with_its_imports_frozen(module: str, code_dir: Path) -> None:
    enabled, frozen, path, _ = _probe(module, code_dir)
    assert path == str(code_dir / f"{module}.py")
    assert enabled is True
    assert frozen > 10_000  # the objects the imports built


def test_every_function_has_its_modules_not_imported() -> None:
    assert sorted(NOT_IMPORTED) == sorted(module for module, _ in _entry_modules())


@pytest.mark.parametrize(("module", "code_dir"), _entry_modules(), ids=lambda v: str(v).rsplit("/", 1)[-1])
def test_entry_module_imports_no_heavy_module_it_does_not_use(module: str, code_dir: Path) -> None:
    _, _, _, modules = _probe(module, code_dir)
    assert module in modules  # the probe saw the entry module's imports
    imported = [name for name in NOT_IMPORTED[module] if name in modules]
    assert imported == []
