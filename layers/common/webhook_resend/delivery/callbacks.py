"""What a resent DataForSEO task delivers: the pingback URL with its placeholders replaced, and the
postback body (the task result in DataForSEO's envelope, gzip-compressed)."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any
from urllib.parse import quote

from webhook_resend.models.dataforseo import OK, envelope
from webhook_resend.models.messages import PairMessage


def callback_url(template: str, task_id: str, tag: str | None) -> str:
    """`$id` and `$tag` replaced by the task id and tag, URL-encoded."""
    return template.replace("$id", quote(task_id, safe="")).replace("$tag", quote(tag or "", safe=""))


def postback_document(message: PairMessage, data: dict[str, Any], result: Any) -> bytes:
    """The task result in DataForSEO's envelope (with `postback_data` in `data`), as JSON bytes:
    what the postback signs and, gzip-compressed, sends."""
    path = ["v3", *(str(data[k]) for k in ("api", "se", "se_type") if data.get(k)), "task_get"]
    if data.get("postback_data"):
        path.append(str(data["postback_data"]))
    task = {
        "id": message.subject_id,
        "status_code": 20000,
        "status_message": "Ok.",
        "time": "0.0000 sec.",
        "cost": 0,
        "result_count": len(result) if isinstance(result, list) else int(result is not None),
        "path": path,
        "data": data,
        "result": result,
    }
    document = envelope(OK, time.perf_counter(), [task])
    return json.dumps(document, separators=(",", ":")).encode()


def postback_body(message: PairMessage, data: dict[str, Any], result: Any) -> bytes:
    """The postback's body on the wire: the document, gzip-compressed."""
    return gzip.compress(postback_document(message, data, result), mtime=0)
