"""What a million delivered pairs cost, from the figures the enqueue and delivery parts measured,
at AWS list prices. A formula over measured units, not a measurement: run.py adds its rows
after the parts, beside the same sum for the raw baselines.

Prices: us-east-1, on-demand, as AWS lists them (DynamoDB's after its November 2024 reduction);
check https://aws.amazon.com/{dynamodb,sqs,lambda}/pricing/ before quoting them. Free tiers,
data transfer to the receivers, CloudWatch (logs, metrics) and X-Ray are left out.
"""

from __future__ import annotations

from typing import Any

from harness import Row

REGION = "us-east-1"
PRICES = {  # dollars per unit
    "dynamodb_write_request_unit": 0.625 / 1e6,  # on-demand, standard table class
    "dynamodb_read_request_unit": 0.125 / 1e6,
    "sqs_request": 0.40 / 1e6,  # standard queue, per request (64 KB chunk)
    "lambda_gb_second": 0.0000166667,  # x86_64
    "lambda_request": 0.20 / 1e6,
}
PAIRS = 1_000_000
WITH_BASELINE = (  # rows whose baseline column holds the raw baseline's figure
    "delivery_wcu_per_pair",
    "delivery_rcu_per_pair",
    "delivery_sqs_requests_per_pair",
    "delivery_lambda_gb_s_per_1k_pairs",
    "enqueue_sqs_requests_per_pair",
    "enqueue_lambda_gb_s_per_1k_pairs",
)
SHARED = ("delivery_sqs_poller_requests_per_pair", "delivery_invocations_per_pair")  # the same for both


def dollars(units: dict[str, float]) -> dict[str, float]:
    """Dollars per million pairs by service, from per-pair units."""
    return {
        "dynamodb": PAIRS
        * (
            units["wcu"] * PRICES["dynamodb_write_request_unit"]
            + units["rcu"] * PRICES["dynamodb_read_request_unit"]
        ),
        "sqs": PAIRS * units["sqs_requests"] * PRICES["sqs_request"],
        "lambda": PAIRS
        * (units["gb_s"] * PRICES["lambda_gb_second"] + units["invocations"] * PRICES["lambda_request"]),
    }


def rows(figures: dict[str, Any], baselines: dict[str, Any]) -> list[Row]:
    """The cost rows, or none when a part that feeds them did not run."""
    if any(baselines.get(k) is None for k in WITH_BASELINE) or any(k not in figures for k in SHARED):
        return []
    poller = figures["delivery_sqs_poller_requests_per_pair"]
    ours = dollars(
        {
            "wcu": figures["delivery_wcu_per_pair"],
            "rcu": figures["delivery_rcu_per_pair"],
            "sqs_requests": figures["enqueue_sqs_requests_per_pair"]
            + figures["delivery_sqs_requests_per_pair"]
            + poller,
            "gb_s": (
                figures["enqueue_lambda_gb_s_per_1k_pairs"] + figures["delivery_lambda_gb_s_per_1k_pairs"]
            )
            / 1000,
            "invocations": figures["delivery_invocations_per_pair"],
        }
    )
    raw = dollars(
        {
            "wcu": baselines["delivery_wcu_per_pair"],
            "rcu": baselines["delivery_rcu_per_pair"],
            "sqs_requests": baselines["enqueue_sqs_requests_per_pair"]
            + baselines["delivery_sqs_requests_per_pair"]
            + poller,
            "gb_s": (
                baselines["enqueue_lambda_gb_s_per_1k_pairs"] + baselines["delivery_lambda_gb_s_per_1k_pairs"]
            )
            / 1000,
            "invocations": figures["delivery_invocations_per_pair"],
        }
    )
    notes = {
        "dynamodb": "WCU and RCU per pair x $0.625 / $0.125 per million request units",
        "sqs": "SendMessageBatch + the consumer's calls + the poller's receive/delete (formula) "
        "x $0.40 per million",
        "lambda": "API + delivery GB-s x $0.0000166667, invocations x $0.20 per million",
    }
    found = []
    for service in ("dynamodb", "sqs", "lambda"):
        found.append(
            Row(
                f"cost_usd_per_million_pairs_{service}",
                round(ours[service], 3),
                "$",
                round(raw[service], 3),
                "raw",
                round(ours[service] / raw[service], 3) if raw[service] else None,
                note=notes[service],
            )
        )
    total, raw_total = sum(ours.values()), sum(raw.values())
    found.append(
        Row(
            "cost_usd_per_million_pairs",
            round(total, 3),
            "$",
            round(raw_total, 3),
            "raw",
            round(total / raw_total, 3),
            note=f"formula: measured units x {REGION} on-demand list prices (bench/cost.py); single-URL "
            "pairs, 50 ms receiver; free tiers, data transfer and CloudWatch left out",
        )
    )
    return found
