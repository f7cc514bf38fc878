"""DataForSEO's seed as test data: the fields its envelope and task entries carry, and tasks with a
pingback, a postback, and neither (shared by the envelope, resend-by-task and callback tests)."""

import re

TENANT = "tenant-1"
OTHER_TENANT = "tenant-2"
PATH = ["v3", "appendix", "webhook_resend"]
ENVELOPE_FIELDS = {
    "version",
    "status_code",
    "status_message",
    "time",
    "cost",
    "tasks_count",
    "tasks_error",
    "tasks",
}
TASK_FIELDS = {
    "id",
    "status_code",
    "status_message",
    "time",
    "cost",
    "result_count",
    "path",
    "data",
    "result",
}
TIME = re.compile(r"^\d+\.\d{4} sec\.$")

PING_ID = "08161139-0001-0066-1000-06491d097ed5"
POST_ID = "08161340-0001-0066-1000-8b091c84af4f"
BARE_ID = "08161703-0001-0066-1000-597aa65619fc"
FOREIGN_ID = "0b3c5e1a-7f60-4d8e-9a51-2f4c6b7d8e90"
UNKNOWN_ID = "6f0e2a4c-9a57-4a0e-8c7e-1f1d3f5c2b10"
PING_DATA = {
    "api": "serp",
    "function": "task_post",
    "se": "google",
    "se_type": "organic",
    "keyword": "marcus rashford",
    "pingback_url": "https://your-server.com/pingscript?id=$id&tag=$tag",
    "tag": "t1",
}
POST_DATA = {
    "api": "serp",
    "function": "task_post",
    "se": "google",
    "se_type": "organic",
    "keyword": "marcus rashford",
    "postback_url": "https://your-server.com/postbackscript.php?id=$id&tag=$tag",
    "postback_data": "advanced",
}
BARE_DATA = {"api": "serp", "function": "task_post", "se": "google", "keyword": "marcus rashford"}
