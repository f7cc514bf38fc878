"""DynamoDB keys. Every partition key starts with the tenant id, so no query can cross tenants."""

from __future__ import annotations

import hashlib

TENANT_SK = "#TENANT"
ITEM_SK = "ITEM"
TASK_SK = "TASK"
ITEMS_INDEX = "items_by_created"


def tenant(tenant_id: str) -> dict[str, str]:
    return {"pk": tenant_id, "sk": TENANT_SK}


def item(tenant_id: str, item_id: str) -> dict[str, str]:
    return {"pk": f"{tenant_id}#ITEM#{item_id}", "sk": ITEM_SK}


def items_index_pk(tenant_id: str) -> str:
    return f"{tenant_id}#ITEMS"


def items_index_sk(created_on: str, item_id: str) -> str:
    return f"{created_on}#{item_id}"


def task(tenant_id: str, task_id: str) -> dict[str, str]:
    return {"pk": f"{tenant_id}#TASK#{task_id}", "sk": TASK_SK}


def webhooks_pk(tenant_id: str) -> str:
    return f"{tenant_id}#WEBHOOKS"


def webhook(tenant_id: str, webhook_id: str) -> dict[str, str]:
    return {"pk": webhooks_pk(tenant_id), "sk": webhook_id}


JOB_SK = "JOB"
DELIVERIES_INDEX = "deliveries_by_job"


def job(tenant_id: str, job_id: str) -> dict[str, str]:
    return {"pk": f"{tenant_id}#JOB#{job_id}", "sk": JOB_SK}


def pair_pk(tenant_id: str, job_id: str, subject_id: str) -> str:
    # One partition per job × item (SPEC §10: no hot keys): a message's records sit together.
    return f"{tenant_id}#JOB#{job_id}#S#{subject_id}"


def delivery(tenant_id: str, job_id: str, subject_id: str, webhook_id: str, url_index: int) -> dict[str, str]:
    return {"pk": pair_pk(tenant_id, job_id, subject_id), "sk": f"W#{webhook_id}#U#{url_index:02d}"}


# The fields of a delivery record that its key holds: the record does not repeat them.
DELIVERY_ID_FIELDS = frozenset({"job_id", "subject_id", "webhook_id", "url_index"})


def delivery_ids(pk: str, sk: str) -> dict[str, str | int]:
    """The DELIVERY_ID_FIELDS of a delivery record, read from its key."""
    rest, _, subject_id = pk.rpartition("#S#")
    job_id = rest.rpartition("#JOB#")[2]
    webhook_id, _, url_index = sk.removeprefix("W#").rpartition("#U#")
    return {"job_id": job_id, "subject_id": subject_id, "webhook_id": webhook_id, "url_index": int(url_index)}


def deliveries_index_pk(tenant_id: str, job_id: str) -> str:
    return f"{tenant_id}#JOB#{job_id}"


def deliveries_index_sk(status: str, subject_id: str, webhook_id: str, url_index: int) -> str:
    return f"{status}#{subject_id}#{webhook_id}#{url_index:02d}"


FAILED_INDEX = "failed_deliveries"


def failed_index_pk(tenant_id: str) -> str:
    return f"{tenant_id}#FAILED"


def failed_index_sk(failed_on: str, job_id: str, subject_id: str, webhook_id: str, url_index: int) -> str:
    return f"{failed_on}#{job_id}#{subject_id}#{webhook_id}#{url_index:02d}"


def schedules_pk(tenant_id: str) -> str:
    return f"{tenant_id}#SCHEDULES"


def schedule(tenant_id: str, name: str) -> dict[str, str]:
    return {"pk": schedules_pk(tenant_id), "sk": name}


# -- parked pairs: pairs waiting in DynamoDB for their next attempt (delivery/parking.py) ----------
PARKED_INDEX = "parked_by_due"
# Fixed: the waker reads every shard each run, and a pair's shard must never move while it waits.
PARK_SHARDS = 8


def parked(tenant_id: str, job_id: str, subject_id: str, webhook_id: str) -> dict[str, str]:
    # Beside the pair's delivery records, one item per pair: parking it again replaces it.
    return {"pk": pair_pk(tenant_id, job_id, subject_id), "sk": f"PARK#W#{webhook_id}"}


def _shard(text: str) -> int:
    """A stable hash of `text` over PARK_SHARDS partitions, so none of them is hot."""
    digest = hashlib.blake2b(text.encode(), digest_size=4)
    return int.from_bytes(digest.digest(), "big") % PARK_SHARDS


def parked_shard(tenant_id: str, job_id: str, subject_id: str, webhook_id: str) -> int:
    """The index partition a pair parks in: a stable hash of the pair."""
    return _shard(f"{tenant_id}#{job_id}#{subject_id}#{webhook_id}")


def parked_index_pk(shard: int) -> str:
    # The one key that does not start with a tenant id: the waker serves every tenant, and reads
    # this index only (never a request path).
    return f"PARKED#{shard:02d}"


def parked_index_sk(due_on: str, tenant_id: str, job_id: str, subject_id: str, webhook_id: str) -> str:
    return f"{due_on}#{tenant_id}#{job_id}#{subject_id}#{webhook_id}"


def held_index_pk(tenant_id: str, job_id: str, shard: int) -> str:
    # A pair held by its paused job parks in the same index, under its job rather than its due
    # time: the waker, which reads `PARKED#<shard>` only, never wakes it, and the job's resume or
    # cancel finds its held pairs with Queries of these PARK_SHARDS partitions (not a Scan).
    return f"{tenant_id}#HELD#{job_id}#{shard:02d}"


# Every parked item (any reason) is also an entry of this sparse index, under its job: a cancel's
# walk finds the job's parked pairs with Queries of PARK_SHARDS partitions (never a Scan), and ends
# them at once rather than when they come due (resends/control.py).
PARKED_JOB_INDEX = "parked_by_job"


def parked_job_index_pk(tenant_id: str, job_id: str, shard: int) -> str:
    return f"{tenant_id}#PARKJOB#{job_id}#{shard:02d}"


def parked_job_index_sk(subject_id: str, webhook_id: str) -> str:
    return f"{subject_id}#{webhook_id}"


def parked_due_bound(now: str) -> str:
    """The sort key every entry due at or before `now` (a canonical time) sorts below: `$` comes
    right after the `#` that ends an entry's due time."""
    return f"{now}$"


# -- resend jobs by tenant, newest first (GET /resends), and their asynchronous selections --------
JOBS_INDEX = "jobs_by_tenant"


def jobs_index_pk(tenant_id: str) -> str:
    return f"{tenant_id}#JOBS"


def jobs_index_sk(created_on: str, job_id: str) -> str:
    return f"{created_on}#{job_id}"


def selection(tenant_id: str, job_id: str) -> dict[str, str]:
    # Beside its job record: what an asynchronous selection selects (written once, with the job).
    return {"pk": f"{tenant_id}#JOB#{job_id}", "sk": "SELECTION"}


def outbox(tenant_id: str, job_id: str) -> dict[str, str]:
    # Beside its job record: what the job's start still has to queue (resends/outbox.py), written
    # with the job and deleted once it is queued.
    return {"pk": f"{tenant_id}#JOB#{job_id}", "sk": "OUTBOX"}


# An outbox is also an entry of the parked pairs' index (`parked_by_due`, which projects its
# `message` and `due_on`), under partitions of its own that the waker's sweep reads.
def outbox_index_pk(shard: int) -> str:
    return f"OUTBOX#{shard:02d}"


def outbox_index_sk(due_on: str, tenant_id: str, job_id: str) -> str:
    return f"{due_on}#{tenant_id}#{job_id}"


def outbox_shard(tenant_id: str, job_id: str) -> int:
    return _shard(f"{tenant_id}#{job_id}")


def selection_step(tenant_id: str, job_id: str, step: int) -> dict[str, str]:
    # Beside its job record: the pairs one step of a selection counted, kept so that a
    # redelivered step sends exactly those (resends/selections.py).
    return {"pk": f"{tenant_id}#JOB#{job_id}", "sk": f"STEP#{step:08d}"}


def selection_marker(tenant_id: str, job_id: str, subject_id: str) -> dict[str, str]:
    # Beside the subject's delivery records: which step selected the subject, and each of its
    # pairs, in a resend by outcome (a pair may have failed several times, on several pages).
    return {"pk": pair_pk(tenant_id, job_id, subject_id), "sk": "SELECTED"}


# -- operational events: what the service sent to a tenant's notify_url (delivery/events.py) --------
def events_pk(tenant_id: str) -> str:
    return f"{tenant_id}#EVENTS"


def event(tenant_id: str, created_on: str, event_id: str) -> dict[str, str]:
    # Sorted by time within the tenant's partition: the newest first is one Query, backwards.
    return {"pk": events_pk(tenant_id), "sk": f"{created_on}#{event_id}"}


# -- rate budgets: one item per webhook URL, its next free send slot (delivery/pacing.py) -----------
RATE_SK_PREFIX = "U#"


def rate_budget(tenant_id: str, webhook_id: str, url: str) -> dict[str, str]:
    # Keyed by the URL itself (hashed: a URL may be 2 KB), so a webhook whose URLs are replaced or
    # reordered never hands one URL's slots to another.
    digest = hashlib.blake2b(url.encode(), digest_size=8).hexdigest()
    return {"pk": f"{tenant_id}#RATE#{webhook_id}", "sk": f"{RATE_SK_PREFIX}{digest}"}
