"""devstack.aws.MotoProcess: make run's moto in a process of its own, which ends with the stack
and with its parent, even a parent killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3

from devstack.aws import MotoProcess

ROOT = Path(__file__).resolve().parents[2]
PARENT = """\
import sys, time
sys.path.insert(0, sys.argv[1])
from devstack.aws import MotoProcess
moto = MotoProcess()
moto.start()
print(moto.pid, flush=True)
time.sleep(600)
"""


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # reaped by nobody if its parent died: a zombie counts as gone
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_moto_process_answers_on_its_port_and_stop_ends_it() -> None:
    moto = MotoProcess()
    moto.start()
    pid = moto.pid
    assert pid is not None
    assert pid != os.getpid()
    host, port = moto.get_host_and_port()
    client = boto3.client(
        "sqs",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    url = client.create_queue(QueueName="moto-process")["QueueUrl"]
    assert client.list_queues()["QueueUrls"] == [url]

    moto.stop()

    assert _gone(pid, 5.0)
    assert moto.pid is None
    moto.stop()  # a second stop does nothing


def test_moto_process_ends_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen(  # noqa: S603 - our interpreter, our snippet
        [sys.executable, "-c", PARENT, str(ROOT)], stdout=subprocess.PIPE, text=True
    )
    try:
        child = int((parent.stdout.readline() if parent.stdout else "").strip())
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        assert _gone(child, 5.0)
    finally:
        if parent.poll() is None:
            parent.kill()
        if parent.stdout:
            parent.stdout.close()
