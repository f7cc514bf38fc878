"""moto's SQS without its walks of the whole queue per message handled.

moto 5.2.5 (pinned) finds the message of a receipt handle by walking every message of the queue
(`Queue.delete_message`, `SQSBackend.change_message_visibility`, a Python call per message), and
every SendMessage reads `queue.attributes`, which counts the visible, delayed and in-flight
messages of the queue, to learn whether it deduplicates by content: a delivery queue 100,000 deep
made each of those calls cost a walk of 100,000 messages.

`install()` keeps a map receipt handle -> message (filled where moto hands a handle out,
`Message.mark_received`), so a delete or a visibility change finds its message at once, and
answers SendMessage's one question without the counts, and ReceiveMessage's retention check of
each message it hands out (moto reads the retention period through GetQueueAttributes: nine
counts of the queue per message received). Everything else, and every answer, is
moto's own: the same checks in the same order, the same errors. ReceiveMessage finds the visible
messages of the queue as it walks them, with one reading of the clock rather than two a message,
and stops with its count (moto listed every visible message of the queue first), and a delete
takes its message out of the queue's list in place (moto copied the list without it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.sqs import models as sqs_models
from moto.sqs.exceptions import InvalidParameterValue
from moto.sqs.models import Message, Queue, SQSBackend

from devstack.patches import Layer, Patch

_handles: dict[str, Message] = {}


class _Sending(threading.local):
    active = False


_sending = _Sending()


class _Receiving(threading.local):
    active = False


_receiving = _Receiving()


def _message_of(queue: Queue, receipt_handle: str) -> Message | None:
    """The message of the queue that ever had this receipt handle (moto's walk, by lookup)."""
    message = _handles.get(receipt_handle)
    if message is None or not message.had_receipt_handle(receipt_handle):
        return None
    if message not in queue._messages:
        return None
    return message


def _patched_mark_received(original: Callable[..., None]) -> Callable[..., None]:
    def mark_received(self: Message, visibility_timeout: int | None = None) -> None:
        original(self, visibility_timeout)
        if self.receipt_handle is not None:
            _handles[self.receipt_handle] = self

    return mark_received


def _patched_queue_delete_message(original: Callable[..., None]) -> Callable[..., None]:
    def delete_message(self: Queue, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # Already deleted - gracefully handle deleting it again
        message = _message_of(self, receipt_handle)
        if message is None:
            return original(self, receipt_handle)  # moto's walk: a handle from before install()
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)  # type: ignore[arg-type]
        # In place, not moto's copy of the queue without it: a queue 100,000 deep made every
        # delete copy 100,000 references, and the messages a consumer deletes are near the front.
        # A receive walking the list on another thread may then pass over one message, which it
        # leaves in the queue for the next receive (SQS may answer fewer messages than it has).
        self._messages.remove(message)
        for handle in message.all_receipt_handles:
            if handle is not None:
                _handles.pop(handle, None)

    return delete_message


def _patched_change_message_visibility(original: Callable[..., None]) -> Callable[..., None]:
    def change_message_visibility(
        self: SQSBackend, queue_name: str, receipt_handle: str, visibility_timeout: int
    ) -> None:
        queue = self.get_queue(queue_name)
        message = _message_of(queue, receipt_handle)
        if message is None:
            return original(self, queue_name, receipt_handle, visibility_timeout)  # moto's walk
        # moto's body for the message it found, unchanged
        visibility_timeout_msec = int(visibility_timeout) * 1000
        given_visibility_timeout = sqs_models.unix_time_millis() + visibility_timeout_msec
        if given_visibility_timeout - message.sent_timestamp > 43200 * 1000:  # type: ignore[operator]
            raise InvalidParameterValue(
                f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
            )
        message.change_visibility(visibility_timeout)
        if message.visible and message in queue.pending_messages:
            queue.pending_messages.remove(message)

    return change_message_visibility


def _patched_send_message(original: Callable[..., Message]) -> Callable[..., Message]:
    def send_message(self: SQSBackend, *args: Any, **kwargs: Any) -> Message:
        outer = _sending.active
        _sending.active = True
        try:
            return original(self, *args, **kwargs)
        finally:
            _sending.active = outer

    return send_message


def _patched_retention(original: Callable[..., bool]) -> Callable[..., bool]:
    def is_message_valid_based_on_retention_period(
        self: SQSBackend, queue_name: str, message: Message
    ) -> bool:
        # moto reads the retention period through get_queue_attributes, which builds
        # `queue.attributes` (three counts of the queue) three times, for every message received.
        value = self.get_queue(queue_name).message_retention_period
        if value is None or isinstance(value, bool):
            return original(self, queue_name, message)
        retain_until = value + message.sent_timestamp / 1000  # type: ignore[operator]
        return not retain_until <= sqs_models.unix_time()

    return is_message_valid_based_on_retention_period


def _patched_receive_message(original: Callable[..., list[Message]]) -> Callable[..., list[Message]]:
    def receive_message(self: SQSBackend, *args: Any, **kwargs: Any) -> list[Message]:
        outer = _receiving.active
        _receiving.active = True
        try:
            return original(self, *args, **kwargs)
        finally:
            _receiving.active = outer

    return receive_message


def _patched_wait_for_messages(original: Callable[..., None]) -> Callable[..., None]:
    def wait_for_messages(self: Queue, timeout: int) -> None:
        # A long poll waits until `messages` is not empty: a list, not a walk (always true).
        outer = _receiving.active
        _receiving.active = False
        try:
            original(self, timeout)
        finally:
            _receiving.active = outer

    return wait_for_messages


def _patched_messages(original: property) -> property:
    def messages(self: Queue) -> Iterable[Message]:
        # moto's `visible and not delayed` of every message, each reading the clock twice (13 µs a
        # reading): the same test against one reading of the clock. Inside ReceiveMessage, which
        # only walks them until it has its count, they are found as it walks, not all first: a
        # receive from a queue 100,000 deep read every message of it.
        now = sqs_models.unix_time_millis()
        found = (m for m in self._messages if now > m.visible_at and not now < m.delayed_until)
        return found if _receiving.active else list(found)

    patched = property(messages)
    patched.fget.__wrapped__ = original  # type: ignore[union-attr]
    return patched


def _patched_attributes(original: property) -> property:
    def attributes(self: Queue) -> dict[str, Any]:
        if _receiving.active:  # a receive's redrive or retention check: its counts need lists
            _receiving.active = False
            try:
                return attributes(self)
            finally:
                _receiving.active = True
        if not _sending.active:
            return original.fget(self)  # type: ignore[misc]
        # Inside SendMessage moto reads only ContentBasedDeduplication, which `attributes` holds
        # for a FIFO queue only, as "true"/"false" when it is a bool.
        if not self.fifo_queue:
            return {}
        value = self.content_based_deduplication
        return {"ContentBasedDeduplication": str(value).lower() if isinstance(value, bool) else value}

    patched = property(attributes)
    patched.fget.__wrapped__ = original  # type: ignore[union-attr]
    return patched


# moto's SQS (5.2.5), patched in this process by `install()` (idempotent), put back by `uninstall()`.
_layer = Layer(
    Patch(Message, "mark_received", _patched_mark_received),
    Patch(Queue, "delete_message", _patched_queue_delete_message),
    Patch(SQSBackend, "change_message_visibility", _patched_change_message_visibility),
    Patch(SQSBackend, "send_message", _patched_send_message),
    Patch(SQSBackend, "receive_message", _patched_receive_message),
    Patch(Queue, "wait_for_messages", _patched_wait_for_messages),
    Patch(SQSBackend, "is_message_valid_based_on_retention_period", _patched_retention),
    Patch(Queue, "attributes", _patched_attributes),
    Patch(Queue, "messages", _patched_messages),
)
install, installed, uninstall = _layer.install, _layer.installed, _layer.uninstall
