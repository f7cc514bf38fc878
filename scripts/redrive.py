"""`make redrive`: move dead-lettered messages back to their queue.

    make redrive                      # the stack of samconfig.toml (webhook-resend), both queues
    make redrive STACK=my-stack QUEUE=delivery
    AWS_ENDPOINT_URL=http://127.0.0.1:<moto port> make redrive LOCAL=1   # make run's stack

The queue URLs come from the stack's outputs (DeliveryQueueUrl / DeliveryDeadLetterQueueUrl,
FanoutQueueUrl / FanoutDeadLetterQueueUrl); `--dlq-url` and `--queue-url` name them directly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "common"))

from webhook_resend.aws.redrive import redrive

PAIRS = {
    "delivery": ("DeliveryDeadLetterQueueUrl", "DeliveryQueueUrl"),
    "fanout": ("FanoutDeadLetterQueueUrl", "FanoutQueueUrl"),
}


def stack_outputs(stack: str) -> dict[str, str]:
    answer = boto3.client("cloudformation").describe_stacks(StackName=stack)
    return {o["OutputKey"]: o["OutputValue"] for o in answer["Stacks"][0].get("Outputs", [])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", default="webhook-resend")
    parser.add_argument("--queue", choices=[*PAIRS, "all"], default="all")
    parser.add_argument("--dlq-url")
    parser.add_argument("--queue-url")
    args = parser.parse_args(argv)
    sqs = boto3.client("sqs")
    if args.dlq_url and args.queue_url:
        pairs = [(args.dlq_url, args.queue_url)]
    else:
        outputs = stack_outputs(args.stack)
        names = list(PAIRS) if args.queue == "all" else [args.queue]
        pairs = [(outputs[PAIRS[n][0]], outputs[PAIRS[n][1]]) for n in names]
    for dlq_url, queue_url in pairs:
        result = redrive(sqs, dlq_url, queue_url)
        moved = "a move task started" if result.moved < 0 else f"{result.moved} messages moved"
        print(f"{dlq_url} -> {queue_url}: {moved} ({result.method})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
