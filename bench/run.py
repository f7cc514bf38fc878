"""The benchmark suite (issues 7 and 17): every figure in one table, the same figures in one JSON
file.

    .venv/bin/python bench/run.py [--json bench-results.json]
                                  [--only enqueue,delivery,selection,status,coldstart,transports,localstack]

Parts (each in a fresh interpreter of its own, so one part's imports, moto state and garbage do
not weigh on the next; their output, Powertools' logs included, is kept out of the table):

    enqueue     bench/part_enqueue.py     1,000 items x 10 webhooks through ResendApiFunction, its real
                                          SQS client against a local SQS endpoint, vs raw boto3
    delivery    bench/part_delivery.py    DeliverFunction batches of the template's BatchSize (1 URL and
                                          10 URLs a webhook) vs raw aiohttp + boto3 batch_write_item;
                                          capacity units, SQS requests and GB-seconds per pair
    selection   bench/part_selection.py   a native filter resend: the API's answer at 10,000 vs 10 matching
                                          items, the fan-out's walk of 10,000 vs raw boto3 Query + SQS,
                                          index entries transferred per match (make run's patched moto)
    status      bench/part_status.py      reads per GET /resends/{id} (10 vs 10,000 pairs), p50/p99
    coldstart   bench/part_coldstart.py   every function's entry module and first invocation's imports
                                          vs import boto3
    transports  bench/part_transports.py  bench/transports.py, reduced
    localstack  bench/part_localstack.py  make run's stack at 1,000 items + 1,000 delivery records:
                                          list, dry run, a Prepr page of 250, deliveries, import, selection,
                                          vs moto as released (issue 19)

After the parts, bench/cost.py turns the measured units into dollars per million pairs.

Everything runs offline: moto answers DynamoDB (in the part's process, or in a server process of
its own), SQS is bench/sqs_endpoint.py (a local endpoint speaking SQS's protocol) or a stub that
counts calls, and the only sockets are to those and the local receiver, on 127.0.0.1. Every
figure is printed next to the baseline measured in the same run. Targets are reported, never
asserted: the exit status is 0 when every part produced its figures, whether or not they meet
their targets.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

PARTS: dict[str, tuple[str, float]] = {  # name -> (module, time limit in seconds)
    "enqueue": ("part_enqueue", 200.0),
    "delivery": ("part_delivery", 200.0),
    "selection": ("part_selection", 200.0),
    "status": ("part_status", 150.0),
    "coldstart": ("part_coldstart", 200.0),
    "transports": ("part_transports", 100.0),
    "localstack": ("part_localstack", 240.0),
}
ALIASES = {"writes": "delivery", "cold": "coldstart", "import": "coldstart", "transport": "transports"}


# -- one part, in its own process -----------------------------------------------------------------
def run_part(name: str, out: Path) -> int:
    from harness import offline_env

    offline_env()
    module = importlib.import_module(PARTS[name][0])
    result = module.measure()
    out.write_text(result.to_json())
    return 0


# -- the table ------------------------------------------------------------------------------------
def _num(value: Any, unit: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan"
    if isinstance(value, int) or float(value).is_integer():
        text = f"{int(value):,}"
    elif abs(value) >= 100:
        text = f"{value:,.1f}"
    elif abs(value) >= 1:
        text = f"{value:.3f}"
    else:
        text = f"{value:.4f}"
    return f"{text} {unit}".strip() if unit and unit != "x" else (text + "x" if unit == "x" else text)


def table(rows: list[dict[str, Any]]) -> str:
    header = ["metric", "value", "baseline", "ratio", "target", "met?", "note"]
    lines = []
    for r in rows:
        baseline = _num(r["baseline"], r["unit"] if r["unit"] != "x" else "")
        if baseline and r["baseline_label"]:
            baseline += f" ({r['baseline_label']})"
        ratio = f"{r['ratio']:.3f}x" if isinstance(r["ratio"], int | float) else ""
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        lines.append([r["key"], _num(r["value"], r["unit"]), baseline, ratio, r["target"], met, r["note"]])
    widths = [max([len(header[i]), *(len(line[i]) for line in lines)]) for i in range(len(header) - 1)]

    def fmt(cells: list[str]) -> str:
        aligned = [
            cells[i].ljust(widths[i]) if i in (0, 4, 5) else cells[i].rjust(widths[i])
            for i in range(len(widths))
        ]
        return "  ".join([*aligned, cells[-1]]).rstrip()

    rule = "-" * (sum(widths) + 2 * len(widths) + 4)
    return "\n".join([fmt(header), rule, *(fmt(line) for line in lines)])


# -- the suite ------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", type=Path, help="write the figures here as one flat JSON object")
    parser.add_argument(
        "--only", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}"
    )
    parser.add_argument("--part", help=argparse.SUPPRESS)  # internal: run one part in this process
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    chosen = []
    for raw in args.only.split(","):
        name = ALIASES.get(raw.strip(), raw.strip())
        if not name:
            continue
        if name not in PARTS:
            parser.error(f"unknown part {raw!r}; choose from {', '.join(PARTS)}")
        if name not in chosen:
            chosen.append(name)
    args.only = [name for name in PARTS if name in chosen]  # always in suite order
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.part:
        return run_part(args.part, args.out)

    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    figures: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    failed: list[str] = []
    print(
        f"webhook-resend benchmarks: {', '.join(args.only)}; {os.cpu_count()} CPUs, "
        f"1-min load average {load_before:.2f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.only:
            if not (BENCH / f"{PARTS[name][0]}.py").exists():
                print(f"  {name:<11}   not written yet: skipped", flush=True)
                notes.append(f"{name}: bench/{PARTS[name][0]}.py does not exist yet; part skipped.")
                continue
            out = Path(scratch) / f"{name}.json"
            limit = PARTS[name][1]
            began = time.perf_counter()
            command = [sys.executable, str(Path(__file__).resolve()), "--part", name, "--out", str(out)]
            try:
                # This very script with its own arguments: nothing from outside.
                done = subprocess.run(  # noqa: S603
                    command, capture_output=True, text=True, timeout=limit, check=False
                )
                problem = (
                    None if done.returncode == 0 and out.exists() else (done.stderr or done.stdout)[-2000:]
                )
            except subprocess.TimeoutExpired:
                problem = f"did not finish within {limit:g} s"
            took = time.perf_counter() - began
            print(f"  {name:<11} {took:6.1f} s" + ("" if problem is None else "  FAILED"), flush=True)
            figures[f"bench_{name}_s"] = round(took, 1)
            if problem is not None:
                failed.append(name)
                notes.append(f"{name} FAILED: {problem.strip()}")
                continue
            result = json.loads(out.read_text())
            figures.update(result["figures"])
            rows.extend(result["rows"])
            notes.extend(result["notes"])

    import cost

    baselines = {r["key"]: r["baseline"] for r in rows}
    rows.extend(asdict(row) for row in cost.rows(figures, baselines))
    figures.update({r["key"]: r["value"] for r in rows if r["key"].startswith("cost_")})
    run_s = time.perf_counter() - started
    targeted = [r for r in rows if r["met"] is not None]
    missed = [r["key"] for r in targeted if not r["met"]]
    figures.update(
        {
            "bench_run_s": round(run_s, 1),
            "bench_cpu_count": os.cpu_count() or 0,
            "bench_loadavg_1m_before": round(load_before, 2),
            "bench_loadavg_1m_after": round(os.getloadavg()[0], 2),
            "bench_targets_met": len(targeted) - len(missed),
            "bench_targets_missed": len(missed),
            "bench_parts_failed": len(failed),
        }
    )
    print()
    print(table(rows))
    print()
    notes.append(
        "everywhere: before each measured call the heap is collected and frozen (gc.freeze), so the "
        "collector does not walk what the bench holds and a Lambda does not; the only DynamoDB time removed "
        "from a figure is moto's answer time (botocore's before-send to before-parse: moto's work and the "
        "loopback round trip); botocore's validation, serialisation, signing and parsing stay counted, in "
        "wall and CPU alike, and no CPU is subtracted anywhere."
    )
    for note in notes:
        print(f"* {note}")
    print(
        f"\n{len(targeted) - len(missed)} of {len(targeted)} targets met"
        + (f"; missed: {', '.join(missed)}" if missed else "")
        + f". Run time {run_s:.1f} s; 1-min load average {load_before:.2f} before, "
        f"{figures['bench_loadavg_1m_after']:.2f} after (wall figures want an idle machine)."
    )
    if args.json:
        # Each row's same-run baseline too, as `<figure>.baseline`: a ratio can be checked from the file.
        for r in rows:
            if r["key"] in figures and isinstance(r["baseline"], int | float):
                figures[f"{r['key']}.baseline"] = r["baseline"]
            # And whether a targeted figure met its target (1 or 0): bench/compare.py reads it.
            if r["key"] in figures and r["met"] is not None:
                figures[f"{r['key']}.met"] = int(bool(r["met"]))
        clean = {
            k: v for k, v in sorted(figures.items()) if isinstance(v, int | float) and not isinstance(v, bool)
        }
        args.json.write_text(json.dumps(clean, indent=2) + "\n")
        print(f"figures written to {args.json}")
    if failed:
        print(f"parts that failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
