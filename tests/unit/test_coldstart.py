"""Every function's entry module leaves the garbage collector running, with what its imports built
frozen (webhook_resend.coldstart): each is imported in a fresh interpreter, as Lambda does."""

from __future__ import annotations

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
    "print(json.dumps([gc.isenabled(), gc.get_freeze_count(), sys.modules['{module}'].__file__]))\n"
)


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


@pytest.mark.parametrize(("module", "code_dir"), _entry_modules(), ids=lambda v: str(v).rsplit("/", 1)[-1])
def test_entry_module_leaves_the_collector_on_with_its_imports_frozen(module: str, code_dir: Path) -> None:
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
    enabled, frozen, path = json.loads(done.stdout.strip().splitlines()[-1])
    assert path == str(code_dir / f"{module}.py")
    assert enabled is True
    assert frozen > 10_000  # the objects the imports built
