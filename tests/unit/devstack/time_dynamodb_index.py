"""Time (or cProfile) the list's Query shapes on patched moto, in process (not a test).

    .venv/bin/python tests/unit/devstack/time_dynamodb_index.py [ITEMS] [--profile] [--root DIR]

Loads ITEMS (20,000) content items of one tenant (a third tagged `news`) into template.yaml's
DataTable, then times, three times after one warm-up: the list's `total` (COUNT over
`items_by_created` with `contains(tags, :t)`, page after page), the dry run's shape (the same
COUNT without a filter) and the list's 25-item page. `--root DIR` imports `devstack` and these
tests from another checkout (`git archive <commit> devstack tests template.yaml | tar -x -C DIR`),
for a baseline in the same session.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(sys.argv[sys.argv.index("--root") + 1]) if "--root" in sys.argv else Path(__file__).parents[3]
sys.path.insert(0, str(ROOT))

from moto.backends import get_backend  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app  # noqa: E402
from werkzeug.test import Client  # noqa: E402

from devstack import dynamodb_index  # noqa: E402
from tests.unit.devstack.test_dynamodb_index import TABLE, create_table_request, post, s  # noqa: E402


def main(argv: list[str]) -> None:
    numbers = [int(a) for a in argv if a.isdigit()]
    n_items = numbers[0] if numbers else 20_000
    dynamodb_index.install()
    client = Client(DomainDispatcherApplication(create_backend_app))

    def call(target: str, body: dict[str, Any]) -> dict[str, Any]:
        return json.loads(post(client, target, body).get_data())

    call("CreateTable", create_table_request())
    backend = get_backend("dynamodb")["123456789012"]["us-east-1"]
    rng = random.Random(1)
    for n in range(n_items):
        key = f"{n:06d}"
        backend.put_item(
            TABLE,
            {
                "pk": s("tnA"),
                "sk": s(f"ITEM#{key}"),
                "gsi1pk": s("tnA#ITEMS"),
                "gsi1sk": s(f"2026-01-{rng.randint(10, 28)}#{key}"),
                "id": s(key),
                "model": s(rng.choice(["Post", "Page"])),
                "tags": {"L": [s(t) for t in rng.sample(["news", "sport", "tech"], rng.randint(0, 2))]},
                "created_on": s("2026-01-10"),
                "n": {"N": str(rng.randint(0, 999))},
                "payload": s("x" * 100),
            },
        )
    base = {"TableName": TABLE, "IndexName": "items_by_created", "KeyConditionExpression": "gsi1pk = :pk"}
    count_filtered = {
        **base,
        "ExpressionAttributeValues": {":pk": s("tnA#ITEMS"), ":t": s("news")},
        "FilterExpression": "contains(tags, :t)",
        "Select": "COUNT",
    }
    count_all = {**base, "ExpressionAttributeValues": {":pk": s("tnA#ITEMS")}, "Select": "COUNT"}
    page = {
        **base,
        "ExpressionAttributeValues": {":pk": s("tnA#ITEMS"), ":t": s("news")},
        "FilterExpression": "contains(tags, :t)",
        "Limit": 25,
        "ProjectionExpression": "id, created_on, n, tags",
    }

    def count(request: dict[str, Any]) -> int:
        total, body = 0, dict(request)
        while True:
            answer = call("Query", body)
            total += answer["Count"]
            if "LastEvaluatedKey" not in answer:
                return total
            body = {**request, "ExclusiveStartKey": answer["LastEvaluatedKey"]}

    def once() -> dict[str, tuple[float, int]]:
        timings = {}
        for name, request in (("count_filtered", count_filtered), ("count_all", count_all)):
            started = time.perf_counter()
            found = count(request)
            timings[name] = (round(time.perf_counter() - started, 3), found)
        started = time.perf_counter()
        answer = call("Query", page)
        timings["page25"] = (round(time.perf_counter() - started, 4), answer["Count"])
        return timings

    once()  # builds the index (and the projections)
    if "--profile" in argv:
        profile = cProfile.Profile()
        profile.enable()
        once()
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    else:
        for _ in range(3):
            print(once())


if __name__ == "__main__":
    main(sys.argv[1:])
