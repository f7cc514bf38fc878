"""moto's CPU per call for the SQS and DynamoDB calls the local stack makes most, in process,
with the devstack layers of main (`--layers`) and with every layer (not a test).

    .venv/bin/python tests/unit/devstack/time_moto_calls.py [ROUNDS] [--profile CALL [--tottime]]
        [--all-only] [--root DIR]

The calls go through the project's own code where it makes them (`SqsPublisher` for
SendMessageBatch, `Store.commit` for the consumer's TransactWriteItems), with boto3 routed into
moto's HTTP application in this process (no sockets): what is timed is the thread's CPU inside
moto's application for each call (werkzeug's test client included, the same in both modes).

    send_batch   SendMessageBatch of 10 PairMessages (MessageGroupId = tenant)
    receive      ReceiveMessage of 10, AttributeNames and MessageAttributeNames All (the poller's)
    delete       DeleteMessageBatch of 10 (the poller's)
    commit       TransactWriteItems of the consumer's batch: 25 delivered pairs of one job (25
                 conditional Puts and the job's counter Update)

Modes alternate round by round ("main": the layers main has, "all": every layer, main's and
NEW_LAYERS); each figure is the median over the rounds of the mean CPU per call of a round.
`--profile CALL` prints a cProfile of moto's answers to CALL with every layer instead
(`--tottime`: sorted by own time). `--all-only` times every layer only; with `--root DIR` (a
checkout of another commit: `git archive <commit> devstack tests template.yaml | tar -x -C DIR`)
every layer of that checkout's `devstack`, for a baseline in the same session: alternate runs.
"""

from __future__ import annotations

import cProfile
import importlib
import pstats
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(sys.argv[sys.argv.index("--root") + 1]) if "--root" in sys.argv else Path(__file__).parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "layers" / "common"))

import boto3  # noqa: E402
from botocore.awsrequest import AWSResponse  # noqa: E402
from moto.backends import get_backend  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app  # noqa: E402
from werkzeug.test import Client  # noqa: E402

from tests.unit.devstack.test_dynamodb_index import TABLE, create_table_request  # noqa: E402

MAIN_LAYERS = ("dynamodb_index", "sqs_index", "moto_dispatch", "dynamodb_json")
NEW_LAYERS = ("sqs_json", "dynamodb_expressions")
CALLS_PER_ROUND = 40


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


class InProcessMoto:
    """boto3 clients whose requests moto's HTTP application answers in this thread; `cpu` holds
    the thread CPU each operation spent in it."""

    def __init__(self) -> None:
        self._client = Client(DomainDispatcherApplication(create_backend_app))
        self.cpu: dict[str, list[float]] = {}
        self.profile: cProfile.Profile | None = None
        self.profiled = ""  # the operation to profile, when `profile` is set

    def _send(self, request: Any, **_: Any) -> AWSResponse:
        target = request.headers.get("X-Amz-Target") or b"?"
        operation = (target.decode() if isinstance(target, bytes) else target).rsplit(".", 1)[-1]
        profile = self.profile if operation == self.profiled else None
        if profile:
            profile.enable()
        started = time.thread_time()
        answer = self._client.open(
            urlsplit(request.url).path or "/",
            method=request.method,
            data=request.body,
            headers={k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()},
        )
        body = answer.get_data()
        spent = time.thread_time() - started
        if profile:
            profile.disable()
        self.cpu.setdefault(operation, []).append(spent)
        return AWSResponse(request.url, answer.status_code, dict(answer.headers), _Raw(body))

    def client(self, service: str) -> Any:
        client = boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=f"https://{service}.us-east-1.amazonaws.com",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.meta.events.register("before-send", self._send)
        return client


def _layers(names: tuple[str, ...] | None) -> None:
    """Exactly the named layers installed (None: every one)."""
    for short in MAIN_LAYERS + NEW_LAYERS:
        try:
            layer = importlib.import_module(f"devstack.{short}")
        except ModuleNotFoundError:  # a checkout without it
            continue
        if names is None or short in names:
            layer.install()
        else:
            layer.uninstall()


def main(argv: list[str]) -> None:
    from webhook_resend import clock
    from webhook_resend.aws.dynamodb import PairOutcome, Store
    from webhook_resend.aws.publisher import SqsPublisher
    from webhook_resend.models.messages import PairMessage
    from webhook_resend.models.records import Delivery, Job

    numbers = [int(a) for a in argv if a.isdigit()]
    rounds = numbers[0] if numbers else 7
    profile_call = argv[argv.index("--profile") + 1] if "--profile" in argv else None
    sort = ("tottime",) if "--tottime" in argv else ("cumulative",)

    moto = InProcessMoto()
    sqs, dynamodb = moto.client("sqs"), moto.client("dynamodb")
    get_backend("sqs").reset()
    get_backend("dynamodb").reset()
    dynamodb.create_table(**create_table_request())
    queue_url = sqs.create_queue(QueueName="pairs")["QueueUrl"]
    publisher = SqsPublisher(sqs, queue_url, concurrency=1)
    store = Store(dynamodb, TABLE)
    created = clock.canonical(clock.now())
    tenant = "tn-1f0c6a2e"

    def messages(job_id: str) -> list[PairMessage]:
        return [
            PairMessage(
                tenant_id=tenant,
                job_id=job_id,
                subject_id=f"item-{uuid.uuid4().hex[:12]}",
                webhook_id="wh-4c1d",
                event="content_item.published",
                created_on=created,
            )
            for _ in range(10)
        ]

    def send_batch() -> None:
        result = publisher.publish(messages("job-1"))
        assert len(result.sent) == 10

    received: list[list[str]] = []

    def receive() -> None:
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        handles = [m["ReceiptHandle"] for m in answer["Messages"]]
        assert len(handles) == 10
        received.append(handles)

    def delete() -> None:
        handles = received.pop()
        answer = sqs.delete_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
        )
        assert len(answer["Successful"]) == 10

    def commit() -> None:
        job = Job(
            id=str(uuid.uuid4()),
            source="api",
            status="running",
            created_on=created,
            total_items=25,
            total_queued=25,
            delivered=0,
            failed=0,
            pending=25,
        )
        assert store.put_job(tenant, job, clock.expires_at(1))
        outcomes = []
        for n in range(25):
            record = Delivery(
                job_id=job.id,
                subject_id=f"item-{n}",
                webhook_id="wh-4c1d",
                url_index=0,
                url="https://example.com/hook",
                status="delivered",
                last_status_code=200,
                attempts=1,
                last_attempt_on=created,
            )
            outcomes.append(PairOutcome(tenant, job.id, f"item-{n}", "wh-4c1d", [record], "delivered"))
        assert store.commit(outcomes, clock.now_text(), clock.expires_at(1)) == []

    operations = {
        "send_batch": "SendMessageBatch",
        "receive": "ReceiveMessage",
        "delete": "DeleteMessageBatch",
        "commit": "TransactWriteItems",
    }

    def one_round() -> dict[str, float]:
        moto.cpu.clear()
        for _ in range(CALLS_PER_ROUND):
            send_batch()
        for _ in range(CALLS_PER_ROUND):
            receive()
            delete()
        for _ in range(CALLS_PER_ROUND // 4):
            commit()
        return {name: statistics.fmean(moto.cpu[op]) for name, op in operations.items()}

    if profile_call:
        _layers(None)
        one_round()
        moto.profile, moto.profiled = cProfile.Profile(), operations[profile_call]
        one_round()
        pstats.Stats(moto.profile).sort_stats(*sort).print_stats(60)
        return

    modes = ("all",) if "--all-only" in argv else ("main", "all")
    figures: dict[str, dict[str, list[float]]] = {mode: {} for mode in modes}
    for mode in modes:  # a warm-up round of each
        _layers(MAIN_LAYERS if mode == "main" else None)
        one_round()
    for _ in range(rounds):
        for mode in modes:
            _layers(MAIN_LAYERS if mode == "main" else None)
            for name, spent in one_round().items():
                figures[mode].setdefault(name, []).append(spent)
    _layers(None)
    print(
        f"moto CPU per call, us (median of {rounds} rounds of {CALLS_PER_ROUND} calls; commit: a quarter)"
        f" with devstack from {ROOT}"
    )
    if modes == ("all",):
        for name in operations:
            print(f"{name:12s}{statistics.median(figures['all'][name]) * 1e6:10.0f}")
        return
    print(f"{'call':12s}{'main':>10s}{'all':>10s}{'ratio':>8s}")
    for name in operations:
        before = statistics.median(figures["main"][name]) * 1e6
        after = statistics.median(figures["all"][name]) * 1e6
        print(f"{name:12s}{before:10.0f}{after:10.0f}{before / after:8.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
