"""DynamoDB keys. Every partition key starts with the tenant id, so no query can cross tenants."""

from __future__ import annotations

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
