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
