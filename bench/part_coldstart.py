"""Part 5, cold start: how long each function takes, in a fresh interpreter, to import its entry
module and everything its first invocation imports, next to `import boto3` alone.

What a first invocation imports is found, not guessed: once per function (untimed), a fresh
interpreter imports the entry module, invokes the handler with each of the function's sample
events (events/<module>*.json) against moto in a server process of its own, and lists the
modules that appeared during those invocations (the union over the events: lazy imports such
as boto3's client machinery, Powertools' idempotency, the scheduler's expressions). The timed
import then imports the entry module, then those modules, in the order they first appeared. The
delivery function's first invocation also builds its HTTP stack, which the sample event (whose
item does not exist) never reaches: the timed run builds what the handler builds on its first
batch, without sending anything (HttpSender entered, its transport's aiohttp session created,
then closed), which imports aiohttp and httpx-aiohttp; it runs right after the entry module, so
that they are imported the way the sender imports them (`_import_aiohttp`), not one by one from
the discovered list, which then adds only what is still missing. Creating boto3 clients (loading their
service models) is not in the figures: `import_boto3_client_ms` shows what one costs.

Each import runs in its own `python -c` with `sys.path` as Lambda sets it (the function's CodeUri
first, then the layer, then the runtime's packages: here the virtualenv's) and the environment of a
deployed function (LAMBDA_TASK_ROOT and AWS_LAMBDA_FUNCTION_NAME set, which switch Powertools to
its Lambda behaviour; the functions create no Tracer, see webhook_resend.observability). The
virtualenv holds more than the layer: packages outside what layers/common/requirements.txt
installs (e.g. click, rich and pygments, which httpx imports for its command line when they are
there) are made unimportable, as they are in the deployed layer. time.perf_counter() brackets the
imports alone, not the interpreter's own start (the figures are that wall; the process CPU of the
same is reported beside it, as `import_cpu_ms_*`: on a loaded machine it moves less). Every module
runs from compiled bytecode, as `make build` ships the code (one discarded pass first writes it,
into a directory of the run's: PYTHONPYCACHEPREFIX). Repeats run round-robin so drift spreads
evenly; medians are reported. One more run per module with `-X importtime` attributes the time to
packages (self time summed per top-level package).

Two informative rows time HTTP stacks alone (STACKS), in the same rounds: the delivery function's
own (its sender module and first client, after boto3 and the sender's other imports, so the figure
is the HTTP stack's share of that function's cold start) and httpx's AsyncClient on its default
transport (the stack part_transports turned down for its CPU per request).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness import LAYER, ROOT, PartResult, Row, moto_stack, offline_env

BUDGET_MS = 150.0
SNIPPET = (
    "import sys, time\n"
    "{layer_only}"
    "sys.path[:0] = {paths!r}\n"
    "{before}"
    "t, c = time.perf_counter(), time.process_time()\n"
    "import {module}\n"
    "entry_ms = (time.perf_counter() - t) * 1000\n"
    "{build}"
    "import importlib\n"
    "failed = []\n"
    "for name in {modules!r}:\n"
    "    if name not in sys.modules:\n"
    "        try:\n"
    "            importlib.import_module(name)\n"
    "        except Exception:\n"
    "            failed.append(name)\n"
    "print(repr(entry_ms))\n"
    "print(repr((time.perf_counter() - t) * 1000))\n"
    "print(repr((time.process_time() - c) * 1000))\n"
    "print('failed:' + ','.join(failed))\n"
    "print('blocked:' + ','.join(sorted(getattr(sys, '_bench_blocked', ()))))\n"
)
# Finding what a first invocation imports: the modules that appear while the handler runs each of
# the function's sample events (errors are fine: a missing tenant still imports what the path needs).
DISCOVER = (
    "import sys, json\n"
    "{layer_only}"
    "sys.path[:0] = {paths!r}\n"
    "import {module} as entry\n"
    "known = set(sys.modules)\n"
    "class Context:\n"
    "    function_name = {function!r}\n"
    "    function_version = '$LATEST'\n"
    "    memory_limit_in_mb = 512\n"
    "    invoked_function_arn = 'arn:aws:lambda:us-east-1:123456789012:function:' + {function!r}\n"
    "    aws_request_id = 'bench-discovery'\n"
    "    log_group_name = '/aws/lambda/bench'\n"
    "    log_stream_name = 'bench'\n"
    "    def get_remaining_time_in_millis(self):\n"
    "        return 60000\n"
    "for path in {events!r}:\n"
    "    with open(path) as f:\n"
    "        event = json.load(f)\n"
    "    try:\n"
    "        entry.handler(event, Context())\n"
    "    except Exception as exc:\n"
    "        print('invocation raised ' + type(exc).__name__, file=sys.stderr)\n"
    "{build}"
    "print('modules:' + json.dumps([m for m in sys.modules if m not in known]))\n"
)
# What functions/deliver/deliver.py's handler builds on its first batch before the first POST:
# its HttpSender (httpx client over the httpx-aiohttp transport) and, on the first request, the
# transport's aiohttp session. Built and closed here without sending anything.
CLIENT_BUILD = """\
import asyncio
from webhook_resend.delivery.sender import HttpSender, default_transport
{settings}async def _first_client():
    transport = default_transport({private})
    sender = HttpSender({timeout}, transport_factory=lambda: transport, allow_private={private})
    async with sender:
        transport.client = transport.get_client()
asyncio.run(_first_client())
"""
DELIVER_BUILD = CLIENT_BUILD.format(
    settings="from webhook_resend.aws import clients\nsettings = clients.settings()\n",
    private="settings.allow_private_urls",
    timeout="settings.delivery_timeout_seconds",
)
BUILDS = {"deliver": DELIVER_BUILD}
BOTO3_CLIENT = "import boto3\nboto3.client('dynamodb')\n"
# HTTP stacks alone, informative (no function): what is imported before the timer starts, the module
# timed, and what is built after it. "sender": the delivery function's own (its sender module and
# the client its first batch builds, as above), after boto3 and what the sender imports besides
# HTTP (Pydantic, the settings model, the URL policy), so its figure is the HTTP stack's share of
# the delivery function's cold start. "httpx_default": httpx's AsyncClient on its default
# transport (httpcore), built the same way, after boto3: the lighter stack the benchmark turned
# down (part_transports: its CPU per request).
STACKS = {
    "sender": (
        "import boto3, pydantic, webhook_resend.settings, webhook_resend.urlpolicy\n",
        "webhook_resend.delivery.sender",
        CLIENT_BUILD.format(settings="", private="False", timeout="10.0"),
    ),
    "httpx_default": (
        "import boto3\n",
        "httpx",
        "import asyncio\nasync def _first_client():\n    async with httpx.AsyncClient():\n"
        "        pass\nasyncio.run(_first_client())\n",
    ),
}
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


@dataclass
class Timed:
    entry_ms: float  # the entry module alone
    total_ms: float  # with the first invocation's imports (and the delivery function's HTTP client)
    cpu_ms: float  # the process CPU of the same (less sensitive than the wall to a loaded machine)
    log: str  # -X importtime's, when asked
    failed: list[str]  # discovered modules that would not import on their own
    blocked: list[str]  # modules refused as not in the layer


def _run(command: list[str], cwd: Path, env: dict[str, str], what: str) -> subprocess.CompletedProcess[str]:
    # Our own interpreter and snippets, nothing from outside.
    done = subprocess.run(  # noqa: S603
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed: {done.stderr[-1000:]}")
    return done


def import_once(
    module: str,
    paths: list[str],
    cwd: Path,
    env: dict[str, str],
    allowed: frozenset[str],
    modules: list[str],
    build: str = "",
    importtime: bool = False,
    before: str = "",
) -> Timed:
    command = [sys.executable]
    if importtime:
        command += ["-X", "importtime"]
    layer_only = LAYER_ONLY.format(allowed=sorted(allowed)) if allowed else ""
    snippet = SNIPPET.format(
        paths=paths, module=module, layer_only=layer_only, modules=modules, build=build, before=before
    )
    done = _run([*command, "-c", snippet], cwd, env, f"import {module}")
    lines = done.stdout.strip().splitlines()
    return Timed(
        float(lines[-5]),
        float(lines[-4]),
        float(lines[-3]),
        done.stderr,
        list(filter(None, lines[-2].removeprefix("failed:").split(","))),
        list(filter(None, lines[-1].removeprefix("blocked:").split(","))),
    )


def discover(
    module: str, function: str, paths: list[str], cwd: Path, env: dict[str, str], allowed: frozenset[str]
) -> tuple[list[str], list[str]]:
    """(modules the first invocations import, in order of appearance; the sample events used)."""
    events = sorted(
        str(p)
        for p in (ROOT / "events").glob("*.json")
        if p.stem == module or p.stem.startswith(module + "_")
    )
    layer_only = LAYER_ONLY.format(allowed=sorted(allowed)) if allowed else ""
    snippet = DISCOVER.format(
        paths=paths,
        module=module,
        layer_only=layer_only,
        function=function,
        events=events,
        build=BUILDS.get(module, ""),
    )
    done = _run([sys.executable, "-c", snippet], cwd, env, f"first invocation of {module}")
    line = next(x for x in done.stdout.splitlines()[::-1] if x.startswith("modules:"))
    return json.loads(line.removeprefix("modules:")), [Path(e).name for e in events]


def by_package(importtime_log: str) -> Counter[str]:
    """Self time (ms) per top-level package from `-X importtime`'s lines."""
    found: Counter[str] = Counter()
    for line in importtime_log.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            found[match.group(2).split(".")[0]] += int(match.group(1)) / 1000
    return found


# Rounds per function: with 9, two make bench runs a few minutes apart put a function's median up to
# 19 % apart (status 251 and 303 ms, 2026-12-06), where every ratio agreed within 5 %.
REPEATS = 15


def measure(repeats: int = REPEATS) -> PartResult:
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as pycache:
        return _measure(repeats, Path(pycache))


def _measure(repeats: int, pycache: Path) -> PartResult:
    offline_env()
    out = PartResult()
    allowed = layer_modules()
    found = functions()
    # name -> (logical id, code dir, module, modules imported after it, code run after those)
    targets: dict[str, tuple[str, Path, str, list[str], str]] = {
        "boto3": ("", ROOT, "boto3", [], ""),
        "boto3_client": ("", ROOT, "boto3", [], "boto3.client('dynamodb')\n"),
    }
    runs: dict[str, list[Timed]] = {}
    blocked: set[str] = set()
    failed: dict[str, set[str]] = {}
    events: dict[str, list[str]] = {}

    def paths_of(name: str) -> list[str]:
        return [] if name.startswith("boto3") else [str(targets[name][1]), str(LAYER)]

    def once(name: str, importtime: bool = False) -> Timed:
        logical_id, code_dir, module, modules, build = targets[name]
        env = lambda_env(logical_id or None, code_dir, pycache)
        timed = import_once(module, paths_of(name), code_dir, env, allowed, modules, build, importtime)
        blocked.update(timed.blocked)
        failed.setdefault(name, set()).update(timed.failed)
        return timed

    def stack_once(name: str) -> Timed:
        before, module, build = STACKS[name]
        env = lambda_env(None, ROOT, pycache)
        timed = import_once(module, [str(LAYER)], ROOT, env, allowed, [], build, before=before)
        blocked.update(timed.blocked)
        return timed

    # The stack's environment (table and queue names, settings) and moto, for the discovery.
    with moto_stack(out_of_process=True):
        for name, (logical_id, code_dir, module) in found.items():
            targets[name] = (logical_id, code_dir, module, [], "")
            env = lambda_env(logical_id, code_dir, pycache)
            modules, events[name] = discover(module, logical_id, paths_of(name), code_dir, env, allowed)
            targets[name] = (logical_id, code_dir, module, modules, BUILDS.get(module, ""))
        for name in targets:
            once(name)  # bytecode written, files in the page cache
        for name in STACKS:
            stack_once(name)
        # Round-robin, each function right after an `import boto3` of its own: the machine's load
        # (other developers' test suites) changes from second to second, and a pair run back to
        # back sees the same load, so the difference of a pair moves far less than either figure.
        paired: dict[str, list[float]] = {name: [] for name in found}
        for _ in range(repeats):
            runs.setdefault("boto3_client", []).append(once("boto3_client"))
            for name in found:
                boto3 = once("boto3")
                runs.setdefault("boto3", []).append(boto3)
                runs.setdefault(name, []).append(once(name))
                paired[name].append(runs[name][-1].total_ms - boto3.total_ms)
            for name in STACKS:
                runs.setdefault(f"stack_{name}", []).append(stack_once(name))
        logs = {name: once(name, importtime=True).log for name in found}

    def median(name: str, field: str = "total_ms") -> float:
        return statistics.median(getattr(r, field) for r in runs[name])

    boto3_ms = median("boto3")
    out.add(
        Row(
            "import_boto3_ms",
            round(boto3_ms, 1),
            "ms",
            note=f"median of {len(runs['boto3'])} (one before each function's run): "
            + " ".join(f"{r.total_ms:.0f}" for r in runs["boto3"][:12])
            + f" ...; CPU {median('boto3', 'cpu_ms'):.0f} ms",
        )
    )
    out.figures["import_cpu_ms_boto3"] = round(median("boto3", "cpu_ms"), 1)
    client_ms = statistics.median(r.total_ms - r.entry_ms for r in runs["boto3_client"])
    out.add(
        Row(
            "import_boto3_client_ms",
            round(client_ms, 1),
            "ms",
            note="informative: boto3.client('dynamodb') after import boto3 (not in the figures below)",
        )
    )
    for name in found:
        value, entry = median(name), median(name, "entry_ms")
        over = statistics.median(paired[name])
        top = by_package(logs[name]).most_common(5)
        modules = targets[name][3]
        unimported = sorted(failed.get(name, ()))
        out.add(
            Row(
                f"import_ms_{name}",
                round(value, 1),
                "ms",
                round(boto3_ms, 1),
                "boto3",
                round(value / boto3_ms, 3),
                f"<= boto3 + {BUDGET_MS:g}",
                over <= BUDGET_MS,
                note=(
                    f"+{over:.0f} ms over the import boto3 run just before it (median of the pairs); "
                    f"CPU {median(name, 'cpu_ms'):.0f} ms; entry module {entry:.0f} ms + {len(modules)} "
                    "modules its first invocation imports"
                    + (" + its HTTP client" if targets[name][4] else "")
                    + f" ({', '.join(events[name]) or 'no sample event'})"
                    + (
                        f"; {len(unimported)} would not import alone: {', '.join(unimported[:5])}"
                        if unimported
                        else ""
                    )
                    + "; self ms: "
                    + ", ".join(f"{pkg} {ms:.0f}" for pkg, ms in top)
                ),
            )
        )
        out.figures[f"import_over_boto3_ms_{name}"] = round(over, 1)
        out.figures[f"import_entry_ms_{name}"] = round(entry, 1)
        out.figures[f"import_cpu_ms_{name}"] = round(median(name, "cpu_ms"), 1)
        out.figures[f"import_first_call_modules_{name}"] = len(modules)
    deliver_over = statistics.median(paired["deliver"]) if "deliver" in paired else None
    for name, (before, module, _) in STACKS.items():
        value = median(f"stack_{name}")
        out.add(
            Row(
                f"import_http_stack_ms_{name}",
                round(value, 1),
                "ms",
                note=f"informative: {module} imported and its client built (nothing sent), timed alone after "
                + before.removeprefix("import ").strip()
                + f"; CPU {median(f'stack_{name}', 'cpu_ms'):.0f} ms"
                + f"; the budget over boto3 is {BUDGET_MS:g} ms"
                + (
                    f", the delivery function's whole figure +{deliver_over:.0f} ms"
                    if deliver_over is not None and name == "sender"
                    else ""
                ),
            )
        )
    out.notes.append(
        f"cold start: fresh interpreter per run, sys.path = [function dir, layers/common] + venv, Lambda "
        f"environment, warm bytecode caches; each figure is the entry module plus what the function's first "
        f"invocation imports (found by invoking it with its sample events on moto), and for the delivery "
        f"function its HTTP client built; medians of {repeats}, each run right after an import boto3 whose "
        f"time it is compared with (the target is met when the median of those differences is within "
        f"{BUDGET_MS:g} ms); 'self ms' is -X importtime self time "
        f"summed per top-level package (one run). Refused as not in the layer: "
        f"{', '.join(sorted(blocked)) or 'nothing'}."
    )
    return out


if __name__ == "__main__":
    for row in measure(int(sys.argv[1]) if len(sys.argv) > 1 else 3).rows:
        print(row)
