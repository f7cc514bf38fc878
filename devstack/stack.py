"""The whole local stack in one object: moto as AWS, the template's resources, the functions
behind the emulated HTTP API, background workers, and a demo tenant.

`LocalStack` is what `make run` (`python -m devstack`) serves and what end-to-end tests start:

    with LocalStack(port=0, env={"RETRY_SCHEDULE": "1,1"}) as local:
        urllib.request.urlopen(f"{local.url}/webhooks", ...)

It changes process-wide state while running (environment variables pointing boto3 at moto, the
functions' environment, `sys.path` and imported modules) and restores it on `stop()`.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import boto3

from devstack.aws import MotoProcess
from devstack.cfn import load_template
from devstack.gateway import Gateway
from devstack.lambdas import PROJECT_ROOT, Invokers
from devstack.resources import Stack, create_resources, overrides_from_env

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = PROJECT_ROOT / "template.yaml"
DEFAULT_STACK_NAME = "webhook-resend-local"
LOCAL_REGION = "us-east-1"
# Local receivers listen on loopback, which the deployed default refuses.
LOCAL_DEFAULTS = {"ALLOW_PRIVATE_URLS": "true"}
_DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class Worker(Protocol):
    """A background loop of the local stack (an SQS event-source poller, a schedule firer...)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


WorkerFactory = Callable[["LocalStack"], Worker]


def default_worker_factories() -> list[WorkerFactory]:
    """The workers every LocalStack runs unless told otherwise; each is built from the running
    stack once the gateway is up."""
    from devstack.schedule_events import ScheduleEvents
    from devstack.scheduler import ScheduleFirer
    from devstack.sqs import SqsEventSources

    return [SqsEventSources, ScheduleFirer, ScheduleEvents]


class DemoTenantError(RuntimeError):
    """`POST /admin/tenants` did not answer 201 with the tenant's credentials."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"POST /admin/tenants answered {status}: {body[:500]}")
        self.status = status
        self.body = body


class LocalStack:
    """Moto, the template's resources, the HTTP API and the workers, started and stopped together.

    `env` is where parameter overrides (`RETRY_SCHEDULE`, ...) and `ADMIN_TOKEN` come from:
    `os.environ` by default, only the given mapping otherwise (so tests do not depend on the
    shell they run in). `workers` may be filled with ready-made workers before `start()`;
    `worker_factories` build more from the running stack. Workers start after the gateway and
    stop before it. `fast_moto=False` (or LOCAL_MOTO_PATCHES=0 in `env`) runs moto as released,
    without `devstack.dynamodb_index` and `devstack.sqs_index` (the bench's baseline).
    """

    def __init__(
        self,
        port: int = 0,
        admin_token: str | None = None,
        env: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        template_path: str | Path = DEFAULT_TEMPLATE,
        stack_name: str = DEFAULT_STACK_NAME,
        create_demo: bool = True,
        worker_factories: list[WorkerFactory] | None = None,
        access_log: bool = False,
        fast_moto: bool | None = None,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.env = dict(os.environ if env is None else env)
        self.admin_token = admin_token or self.env.get("ADMIN_TOKEN") or secrets.token_urlsafe(32)
        self.template_path = Path(template_path)
        self.stack_name = stack_name
        self.create_demo = create_demo
        self.worker_factories = default_worker_factories() if worker_factories is None else worker_factories
        self.access_log = access_log
        # LOCAL_MOTO_PATCHES=0 runs moto as released (to compare; see devstack.dynamodb_index)
        self.fast_moto = self.env.get("LOCAL_MOTO_PATCHES", "1") != "0" if fast_moto is None else fast_moto
        self.workers: list[Worker] = []
        self.demo: dict[str, Any] | None = None
        self._stack: Stack | None = None
        self._invokers: Invokers | None = None
        self._gateway: Gateway | None = None
        self._moto: MotoProcess | None = None
        self._aws_endpoint: str | None = None
        self._saved_env: dict[str, str | None] = {}
        self._started_workers: list[Worker] = []
        self._built_workers: list[Worker] = []

    # -- state ----------------------------------------------------------------------------------
    def _running(self, value: Any, what: str) -> Any:
        if value is None:
            raise RuntimeError(f"the local stack is not started: no {what}")
        return value

    @property
    def stack(self) -> Stack:
        return self._running(self._stack, "stack")

    @property
    def invokers(self) -> Invokers:
        return self._running(self._invokers, "functions")

    @property
    def gateway(self) -> Gateway:
        return self._running(self._gateway, "gateway")

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return self.gateway.url

    @property
    def port(self) -> int:
        return self.gateway.port

    @property
    def aws_endpoint(self) -> str:
        """Where moto listens: what `AWS_ENDPOINT_URL` points at while the stack runs."""
        return self._running(self._aws_endpoint, "AWS endpoint")

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Invoke one function directly (what an event source or a schedule does)."""
        return self.invokers.invoke(logical_id, event)

    # -- lifecycle ------------------------------------------------------------------------------
    def _set_env(self, name: str, value: str | None) -> None:
        if name not in self._saved_env:
            self._saved_env[name] = os.environ.get(name)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    def _point_boto3_at(self, endpoint: str) -> None:
        for name in list(os.environ):
            # Service-specific endpoints and profiles would win over the moto endpoint.
            if name.startswith("AWS_ENDPOINT_URL_") or name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
                self._set_env(name, None)
        self._set_env("AWS_ENDPOINT_URL", endpoint)
        for name, value in _DUMMY_CREDENTIALS.items():
            self._set_env(name, value)
        self._set_env("AWS_DEFAULT_REGION", LOCAL_REGION)
        self._set_env("AWS_REGION", LOCAL_REGION)

    def start(self) -> LocalStack:
        if self._gateway is not None:
            return self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        # moto in a process of its own: its work then runs on another core than the functions'.
        self._moto = MotoProcess(fast=self.fast_moto)
        self._moto.start()
        moto_host, moto_port = self._moto.get_host_and_port()
        self._aws_endpoint = f"http://{moto_host}:{moto_port}"
        self._point_boto3_at(self._aws_endpoint)

        template = load_template(self.template_path)
        overrides = overrides_from_env(template, {**LOCAL_DEFAULTS, **self.env})
        self._stack = create_resources(
            template,
            stack_name=self.stack_name,
            parameter_overrides=overrides,
            session=boto3.Session(region_name=LOCAL_REGION),
        )
        environment = self._stack.environment()
        for name, value in environment.items():
            self._set_env(name, value)
        self._set_env("ADMIN_TOKEN", self.admin_token)
        if "ADMIN_TOKEN_SECRET_ARN" in environment:
            # Whichever source the admin function reads, it finds the same token.
            boto3.client("secretsmanager", region_name=LOCAL_REGION).put_secret_value(
                SecretId=environment["ADMIN_TOKEN_SECRET_ARN"], SecretString=self.admin_token
            )

        self._invokers = Invokers.from_stack(self._stack)
        self._gateway = Gateway.from_stack(
            self._stack,
            self._invokers.invoke,
            host=self.host,
            port=self.requested_port,
            access_log=self.access_log,
        ).start()

        self._built_workers = [factory(self) for factory in self.worker_factories]
        self.workers.extend(self._built_workers)
        for worker in self.workers:
            worker.start()
            self._started_workers.append(worker)

        if self.create_demo:
            self.demo = self.create_demo_tenant()

    def stop(self) -> None:
        """Stop workers, gateway and moto and restore the process's environment; safe to repeat."""
        while self._started_workers:
            worker = self._started_workers.pop()
            try:
                worker.stop()
            except Exception:
                log.exception("stopping %r failed", worker)
        # Workers built from this run's stack go with it; a restart builds fresh ones.
        self.workers = [worker for worker in self.workers if worker not in self._built_workers]
        self._built_workers = []
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
        if self._invokers is not None:
            self._invokers.close()
            self._invokers = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- demo tenant ------------------------------------------------------------------------------
    def create_demo_tenant(self, name: str = "demo") -> dict[str, Any]:
        """Create a tenant through the API, as an operator would; its one-time credentials."""
        request = urllib.request.Request(  # noqa: S310 - our own http:// gateway
            f"{self.url}/admin/tenants",
            data=json.dumps({"name": name}).encode(),
            headers={"Authorization": f"Bearer {self.admin_token}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                status, body = response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read().decode("utf-8", "replace")
        if status != 201:
            raise DemoTenantError(status, body)
        try:
            tenant = json.loads(body)
        except ValueError:
            raise DemoTenantError(status, body) from None
        if not isinstance(tenant, dict):
            raise DemoTenantError(status, body)
        return tenant
