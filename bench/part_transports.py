"""The transport comparison (bench/transports.py), reduced so the suite stays within its time:
fewer requests and repeats, its own time limit. It runs as its own process, as it always does, so
its CPU figures are its own; its figures come back as `transport_*` keys.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import BENCH, PartResult, Row

REQUESTS = 300
REPEATS = 2
TIME_LIMIT_S = 50.0
NAMES = {
    "httpx_default": "httpx, default transport",
    "httpx_aiohttp": "httpx + AiohttpTransport",
    "sender": "HttpSender (project)",
}


def measure(requests: int = REQUESTS, repeats: int = REPEATS, time_limit: float = TIME_LIMIT_S) -> PartResult:
    out = PartResult()
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "transports.json"
        command = [
            sys.executable,
            str(BENCH / "transports.py"),
            "--requests",
            str(requests),
            "--repeats",
            str(repeats),
            "--time-limit",
            str(time_limit),
            "--json",
            str(target),
        ]
        # bench/transports.py with fixed arguments: nothing from outside.
        done = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, timeout=time_limit + 30, check=False
        )
        if not target.exists():
            raise RuntimeError(
                f"transports.py wrote no figures (exit {done.returncode}): {done.stderr[-1500:]}"
            )
        nums = json.loads(target.read_text())
    for key, value in nums.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        out.figures[key if key.startswith("transport_") else f"transport_{key}"] = value
    base_wall = nums.get("transport_aiohttp_wall_s")
    base_cpu = nums.get("transport_aiohttp_cpu_per_1k_s")
    out.add(
        Row(
            "transport_aiohttp_wall_s",
            base_wall,
            "s",
            nums.get("ideal_wall_s"),
            "ideal",
            round(base_wall / nums["ideal_wall_s"], 3) if base_wall and nums.get("ideal_wall_s") else None,
            note=f"raw aiohttp, the reference: {requests} POSTs, {nums.get('concurrency'):g} in flight",
        ),
        figure=False,
    )
    out.add(
        Row("transport_aiohttp_cpu_per_1k_s", base_cpu, "s", note="raw aiohttp CPU per 1,000 requests"),
        figure=False,
    )
    for name, label in NAMES.items():
        key = f"transport_{name}"
        if f"{key}_wall_s" not in nums:
            out.add(
                Row(f"{key}_runs", nums.get(f"{key}_runs", 0), note=f"{label}: no run counted"), figure=False
            )
            continue
        out.add(
            Row(
                f"{key}_wall_s",
                nums[f"{key}_wall_s"],
                "s",
                base_wall,
                "aiohttp",
                nums.get(f"{key}_wall_over_aiohttp"),
                note=label,
            ),
            figure=False,
        )
        out.add(
            Row(
                f"{key}_cpu_per_1k_s",
                nums[f"{key}_cpu_per_1k_s"],
                "s",
                base_cpu,
                "aiohttp",
                nums.get(f"{key}_cpu_over_aiohttp"),
                note=f"{label}, CPU per 1,000 requests",
            ),
            figure=False,
        )
    errors = sum(v for k, v in nums.items() if k.endswith("_errors"))
    out.notes.append(
        f"transports: bench/transports.py --requests {requests} --repeats {repeats} "
        f"--time-limit {time_limit:g} (exit {done.returncode}, {errors} failed requests); receiver latency "
        f"{nums.get('latency_ms', 0):g} ms, {nums.get('concurrency', 0):g} in flight."
    )
    return out


if __name__ == "__main__":
    for row in measure().rows:
        print(row)
