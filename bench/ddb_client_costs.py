"""By hand (not part of `make bench`): what botocore's own work on the delivery batch's DynamoDB
calls costs, next to the least that work could cost.

One 1-URL batch of the deployed size runs through the delivery handler (as part_delivery runs
it: moto in a process of its own, the local SQS endpoint, a 50 ms receiver), its DynamoDB calls
kept. For each call (BatchGetItem, TransactWriteItems, UpdateItem), on the consumer's own client:
botocore's serialiser against `json.dumps` of the same parameters (DynamoDB's JSON protocol sends
them as they are, but for blobs and timestamps, which the batch has none of); botocore's parser
against `json.loads` of the same answer; and the endpoint ruleset's resolution (for DynamoDB it
walks the request with JMESPath for its table names). Process CPU, medians of 200 (the endpoint:
100). Usage: .venv/bin/python bench/ddb_client_costs.py
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from harness import moto_stack, offline_env


def cpu_ms(fn: Callable[[], Any], repeats: int = 200) -> float:
    spent = []
    for _ in range(repeats):
        start = time.process_time_ns()
        fn()
        spent.append(time.process_time_ns() - start)
    return statistics.median(spent) / 1e6


def line(label: str, found: dict[str, float]) -> str:
    return (
        f"{label:20} serialise {found['serialise']:.3f} ms (json.dumps {found['dumps']:.3f}), "
        f"parse {found['parse']:.3f} ms (json.loads {found['loads']:.3f}), "
        f"endpoint {found['endpoint']:.3f} ms"
    )


def main() -> None:
    offline_env()
    import part_delivery
    from receiver import start_receiver
    from sqs_endpoint import SqsEndpoint

    url, stop = start_receiver(part_delivery.LATENCY_MS)
    try:
        with (
            SqsEndpoint(15.0) as sqs,
            moto_stack(
                env={"ALLOW_PRIVATE_URLS": "true"}, out_of_process=True, sqs_endpoint=sqs.url
            ) as local,
        ):
            variant = part_delivery.Variant(local, 1, part_delivery.template_batch_size(), url, sqs)
            variant.consumer(variant.new_batch())  # warm
            variant.capture()  # one batch, its calls kept
            client = part_delivery.consumer_client()
            totals = dict.fromkeys(("serialise", "dumps", "parse", "loads", "endpoint"), 0.0)
            for operation, request, answer in variant.meter.exchanges:
                model = client.meta.service_model.operation_model(operation)
                body = json.dumps({k: v for k, v in answer.items() if k != "ResponseMetadata"}).encode()
                response = {"status_code": 200, "headers": {}, "body": body}
                found = {
                    "serialise": cpu_ms(lambda: client._serializer.serialize_to_request(request, model)),  # noqa: B023
                    "dumps": cpu_ms(lambda: json.dumps(request, separators=(",", ":")).encode()),  # noqa: B023
                    "parse": cpu_ms(lambda: client._response_parser.parse(response, model.output_shape)),  # noqa: B023
                    "loads": cpu_ms(lambda: json.loads(body)),  # noqa: B023
                    "endpoint": cpu_ms(lambda: client._resolve_endpoint_ruleset(model, request, {}), 100),  # noqa: B023
                }
                for name, value in found.items():
                    totals[name] += value
                print(
                    line(operation, found) + f"; request {len(json.dumps(request))} B, answer {len(body)} B"
                )
            print(line("the batch", totals))
    finally:
        stop()


if __name__ == "__main__":
    main()
