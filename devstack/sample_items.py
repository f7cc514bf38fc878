"""A realistic data set for the local stack: content items as JSON Lines, the input of
`webhook-resend items import`.

    .venv/bin/python -m devstack.sample_items 100000 > items.jsonl

Each line is one item in the shape `GET /content_items/{id}` answers: a UUID id (the same ids
for the same count and seed), models Post / Page / Product, one or two of ten tags (`news` on
about one item in eight), a workflow stage, one or two locales, creation times spread over a
year, and a payload of a few hundred bytes.
"""

from __future__ import annotations

import json
import random
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

MODELS = ("Post", "Post", "Page", "Product")
TAGS = ("news", "sport", "tech", "culture", "travel", "food", "music", "health", "science", "style")
STAGES = ("Draft", "Review", "Done")
LOCALES = ("en-GB", "nl-NL", "de-DE", "fr-FR")
START = datetime(2025, 1, 1, tzinfo=UTC)


def item_id(n: int, seed: int = 19) -> str:
    return str(uuid.UUID(int=random.Random(f"{seed}:{n}").getrandbits(128), version=4))


def sample_item(n: int, seed: int = 19) -> dict[str, Any]:
    rng = random.Random(f"{seed}:{n}:item")
    created = START + timedelta(seconds=rng.randint(0, 365 * 86400))
    changed = created + timedelta(seconds=rng.randint(0, 30 * 86400))
    tags = ["news"] if n % 8 == 0 else []
    tags += rng.sample(TAGS[1:], rng.randint(1, 2) - len(tags) or 1)
    return {
        "id": item_id(n, seed),
        "model": rng.choice(MODELS),
        "tags": tags,
        "workflow_stage": rng.choice(STAGES),
        "locales": rng.sample(LOCALES, rng.randint(1, 2)),
        "created_on": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "changed_on": changed.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "publish_on": None,
        "payload": {"title": f"Item {n}", "body": "lorem ipsum " * rng.randint(5, 25)},
    }


def sample_items(count: int, seed: int = 19) -> Iterator[dict[str, Any]]:
    for n in range(count):
        yield sample_item(n, seed)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m devstack.sample_items COUNT > items.jsonl", file=sys.stderr)
        return 1
    out = sys.stdout
    for item in sample_items(int(argv[0])):
        out.write(json.dumps(item, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
