"""Cold start in instructions, which the machine's load does not move (run by hand, not by `make bench`).

    .venv/bin/python bench/coldstart_instructions.py [--root OTHER_CHECKOUT] [FUNCTION ...]

For each function, what `bench/part_coldstart.py` times (the entry module, then every module its
first invocation imports, found the same way, and the delivery function's HTTP client built) is
run once under valgrind's cachegrind (`--cache-sim=no`), in a whole process from compiled
bytecode, and its instruction count is printed minus that of `import boto3` alone: millions of
instructions over boto3. On this shared machine the wall figures of `--only coldstart` move with
other developers' load by more than a change of a few milliseconds; these counts do not (two runs
agree within 0.5 %). About 0.25-0.3 ms a million at a load of 1 here. With `--root`, the same for
another checkout (the code before a change, e.g. `git archive <commit> | tar -x -C DIR`), its
first invocations discovered with its own code. Needs valgrind (Debian's package); about 15 s a
function.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import part_coldstart as pc
from harness import LAYER, ROOT, moto_stack, offline_env

EXIT = "import os\nsys.stdout.flush()\nos._exit(0)\n"  # no interpreter teardown in the count


def instructions(snippet: str, cwd: Path, env: dict[str, str]) -> int:
    # Our own interpreter and snippets, nothing from outside.
    subprocess.run([sys.executable, "-c", snippet], cwd=cwd, env=env, capture_output=True, check=True)  # noqa: S603
    with tempfile.NamedTemporaryFile() as out:
        done = subprocess.run(  # noqa: S603
            [
                shutil.which("valgrind") or "valgrind",
                "--tool=cachegrind",
                "--cache-sim=no",
                f"--cachegrind-out-file={out.name}",
                sys.executable,
                "-c",
                snippet,
            ],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind: {done.stderr[-500:]}")
    return int(found.group(1).replace(",", ""))


def snippet(module: str, paths: list[str], allowed: frozenset[str], modules: list[str], build: str) -> str:
    layer_only = pc.LAYER_ONLY.format(allowed=sorted(allowed))
    text = pc.SNIPPET.format(paths=paths, module=module, layer_only=layer_only, modules=modules, build=build)
    return text + EXIT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose functions are counted")
    parser.add_argument("names", nargs="*", help="functions (entry module names); all by default")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    root = args.root.resolve()
    offline_env()
    allowed = pc.layer_modules()
    found = pc.functions()
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as cache:
        pycache = Path(cache)
        base = instructions(
            "import sys, time\nimport boto3\n" + EXIT, ROOT, pc.lambda_env(None, ROOT, pycache)
        )
        print(f"import boto3: {base / 1e6:.1f} M instructions (whole process)", flush=True)
        with moto_stack(out_of_process=True):  # the functions' environment, and moto for the discovery
            for name, (logical_id, code_dir, module) in found.items():
                if args.names and name not in args.names:
                    continue
                code_dir = root / code_dir.relative_to(ROOT)
                paths = [str(code_dir), str(root / LAYER.relative_to(ROOT))]
                env = pc.lambda_env(logical_id, code_dir, pycache)
                modules, _ = pc.discover(module, logical_id, paths, code_dir, env, allowed)
                build = pc.BUILDS.get(module, "")
                count = instructions(snippet(module, paths, allowed, modules, build), code_dir, env)
                print(f"{name:12s} {(count - base) / 1e6:8.1f} M instructions over import boto3", flush=True)


if __name__ == "__main__":
    main()
