"""Part 5, cold start: how long each function's entry module takes to import in a fresh
interpreter, next to `import boto3` alone.

Each import runs in its own `python -c` with `sys.path` as Lambda sets it (the function's CodeUri
first, then the layer, then the runtime's packages: here the virtualenv's) and the environment of a
deployed function (LAMBDA_TASK_ROOT and AWS_LAMBDA_FUNCTION_NAME set, which switch Powertools to
its Lambda behaviour; the functions create no Tracer, see webhook_resend.observability). The
virtualenv holds more than the layer: packages outside what layers/common/requirements.txt
installs (e.g. click, rich and pygments, which httpx imports for its command line when they are
there) are made unimportable, as they are in the deployed layer. time.perf_counter() brackets the
import alone, not the interpreter's own start. Every module runs from compiled bytecode, as
`make build` ships the code (one discarded pass first writes it, into a directory of the run's:
PYTHONPYCACHEPREFIX). Repeats run round-robin so drift spreads evenly; medians are reported. One
more run per module with `-X importtime` attributes the time to packages (self time summed per
top-level package).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from harness import LAYER, ROOT, PartResult, Row, offline_env

BUDGET_MS = 150.0
SNIPPET = (
    "import sys, time\n"
    "{layer_only}"
    "sys.path[:0] = {paths!r}\n"
    "t = time.perf_counter()\n"
    "import {module}\n"
    "print(repr((time.perf_counter() - t) * 1000))\n"
    "print('blocked:' + ','.join(sorted(getattr(sys, '_bench_blocked', ()))))\n"
)
# Refuses top-level modules found only in the virtualenv's site-packages and not installed by the
# layer's requirements (the deployed layer does not have them).
LAYER_ONLY = """\
import importlib.machinery, site
class _LayerOnly:
    allowed = frozenset({allowed!r})
    site_dirs = frozenset(site.getsitepackages())
    def find_spec(self, name, path=None, target=None):
        if path is not None or name in self.allowed or name in sys.stdlib_module_names:
            return None
        elsewhere = [p for p in sys.path if p not in self.site_dirs]
        if importlib.machinery.PathFinder.find_spec(name, elsewhere) is not None:
            return None
        if importlib.machinery.PathFinder.find_spec(name, list(self.site_dirs)) is None:
            return None
        sys.__dict__.setdefault('_bench_blocked', set()).add(name)
        raise ModuleNotFoundError(f"No module named {{name!r}} (not in the layer)", name=name)
sys.meta_path.insert(0, _LayerOnly())
"""


def layer_modules() -> frozenset[str]:
    """Top-level module names of the distributions layers/common/requirements.txt installs."""
    from importlib import metadata

    from packaging.requirements import Requirement

    lines = (LAYER / "requirements.txt").read_text().splitlines()
    todo = [Requirement(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()]
    seen: set[str] = set()
    names: set[str] = set()
    while todo:
        requirement = todo.pop()
        key = requirement.name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            continue
        for text in dist.requires or []:
            nested = Requirement(text)
            if nested.marker is None or nested.marker.evaluate({"extra": ""}):
                todo.append(nested)
        top_level = dist.read_text("top_level.txt")
        if top_level:
            names.update(top_level.split())
        for file in dist.files or []:
            first = str(file).split("/")[0]
            if not first.endswith((".dist-info", ".data", ".pth")) and first != "..":
                names.add(first.removesuffix(".py"))
    return frozenset(names)


def functions() -> dict[str, tuple[str, Path, str]]:
    """Short name -> (logical id, code dir, entry module), from template.yaml."""
    from devstack.cfn import load_template

    template = load_template(ROOT / "template.yaml")
    found = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        code_uri, handler = props.get("CodeUri"), props.get("Handler")
        if not isinstance(code_uri, str) or not isinstance(handler, str):
            continue
        module = handler.rpartition(".")[0]
        found[module] = (logical_id, (ROOT / code_uri).resolve(), module)
    return found


def lambda_env(logical_id: str | None, code_dir: Path, pycache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    # Compiled bytecode for every module, ours included, as `make build` ships it (compileall):
    # kept in a directory of this run's, whatever the machine says about writing bytecode.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    if logical_id:
        env.update(
            {
                # What Lambda sets: Powertools behaves as it does in a deployed function.
                "LAMBDA_TASK_ROOT": str(code_dir),
                "AWS_LAMBDA_FUNCTION_NAME": logical_id,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                # Nothing is traced at import time; should anything be, it goes to loopback only.
                "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
                "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
            }
        )
    return env


def import_once(
    module: str,
    paths: list[str],
    cwd: Path,
    env: dict[str, str],
    allowed: frozenset[str],
    importtime: bool = False,
) -> tuple[float, str, str]:
    """(import ms, -X importtime's log, the modules refused as not in the layer)."""
    command = [sys.executable]
    if importtime:
        command += ["-X", "importtime"]
    layer_only = LAYER_ONLY.format(allowed=sorted(allowed)) if allowed else ""
    command += ["-c", SNIPPET.format(paths=paths, module=module, layer_only=layer_only)]
    # Our own interpreter and snippet, nothing from outside.
    done = subprocess.run(  # noqa: S603
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"import {module} failed: {done.stderr[-1000:]}")
    lines = done.stdout.strip().splitlines()
    return float(lines[-2]), done.stderr, lines[-1].removeprefix("blocked:")


def by_package(importtime_log: str) -> Counter[str]:
    """Self time (ms) per top-level package from `-X importtime`'s lines."""
    found: Counter[str] = Counter()
    for line in importtime_log.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            found[match.group(2).split(".")[0]] += int(match.group(1)) / 1000
    return found


def measure(repeats: int = 5) -> PartResult:
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as pycache:
        return _measure(repeats, Path(pycache))


def _measure(repeats: int, pycache: Path) -> PartResult:
    offline_env()
    out = PartResult()
    allowed = layer_modules()
    found = functions()
    targets = {"boto3": ("", ROOT, "boto3")} | found
    runs: dict[str, list[float]] = {name: [] for name in targets}
    blocked: set[str] = set()

    def once(name: str, importtime: bool = False) -> tuple[float, str]:
        logical_id, code_dir, module = targets[name]
        paths = [] if name == "boto3" else [str(code_dir), str(LAYER)]
        env = lambda_env(logical_id or None, code_dir, pycache)
        ms, log, refused = import_once(module, paths, code_dir, env, allowed, importtime)
        blocked.update(filter(None, refused.split(",")))
        return ms, log

    for name in targets:
        once(name)  # bytecode written, files in the page cache
    for _ in range(repeats):
        for name in targets:
            runs[name].append(once(name)[0])

    boto3_ms = statistics.median(runs["boto3"])
    out.add(
        Row(
            "import_boto3_ms",
            round(boto3_ms, 1),
            "ms",
            note=f"median of {repeats}: " + " ".join(f"{v:.0f}" for v in runs["boto3"]),
        )
    )
    for name in found:
        value = statistics.median(runs[name])
        _, log = once(name, importtime=True)
        packages = by_package(log)
        top = packages.most_common(5)
        out.add(
            Row(
                f"import_ms_{name}",
                round(value, 1),
                "ms",
                round(boto3_ms, 1),
                "boto3",
                round(value / boto3_ms, 3),
                f"<= boto3 + {BUDGET_MS:g}",
                value <= boto3_ms + BUDGET_MS,
                note="self ms: " + ", ".join(f"{pkg} {ms:.0f}" for pkg, ms in top),
            )
        )
        out.figures[f"import_over_boto3_ms_{name}"] = round(value - boto3_ms, 1)
    out.notes.append(
        f"cold start: fresh interpreter per import, sys.path = [function dir, layers/common] + venv, "
        f"Lambda environment, warm bytecode caches; medians of {repeats}; "
        f"'self ms' is -X importtime self time summed per top-level package (one run). Refused as not in "
        f"the layer: {', '.join(sorted(blocked)) or 'nothing'}."
    )
    return out


if __name__ == "__main__":
    for row in measure(int(sys.argv[1]) if len(sys.argv) > 1 else 3).rows:
        print(row)
