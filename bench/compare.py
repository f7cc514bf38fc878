"""Two `make bench` runs side by side (issue 17: two runs agree within 10 %).

    .venv/bin/python bench/compare.py first.json second.json

For every figure with a target (and every other ratio, marked informative), its value in each run
and how far apart they are (|a - b| / mean); exit status 1 when a targeted figure differs by more
than 10 % between the runs. Figures missing from either run are listed, not compared.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

AGREEMENT = 0.10


def targeted(figures: dict[str, object]) -> set[str]:
    return {key.removesuffix(".met") for key in figures if key.endswith(".met")}


def compare(first: dict[str, object], second: dict[str, object]) -> tuple[list[str], list[str]]:
    """Printable lines, and the targeted figures that differ by more than AGREEMENT."""
    keys = sorted(targeted(first) | targeted(second))
    ratios = sorted(k for k in set(first) | set(second) if "_over_" in k and "." not in k and k not in keys)
    lines, apart = [], []
    for key in keys + ratios:
        a, b = first.get(key), second.get(key)
        if not isinstance(a, int | float) or not isinstance(b, int | float):
            lines.append(f"{key:52} {a!s:>10} {b!s:>10}   missing in a run")
            continue
        mean = (a + b) / 2
        gap = abs(a - b) / mean if mean else 0.0
        kind = "target" if key in keys else "info"
        if kind == "target" and gap > AGREEMENT:
            apart.append(key)
        lines.append(
            f"{key:52} {a:>10.3f} {b:>10.3f} {gap * 100:6.1f} % {kind}{'  APART' if key in apart else ''}"
        )
    return lines, apart


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    first, second = (json.loads(Path(p).read_text()) for p in argv)
    lines, apart = compare(first, second)
    print("\n".join(lines))
    print(
        f"{len(apart)} targeted figures more than {AGREEMENT:.0%} apart"
        + (f": {', '.join(apart)}" if apart else "")
    )
    return 1 if apart else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
