"""The EventBridge Scheduler adapter: the schedules of the stack's group, each invoking the resend
function with its Input. Takes its client and the stack's names in the constructor."""

from __future__ import annotations

import json
from typing import Any

# Scheduler retries a schedule it could not invoke the resend function for (throttling, AWS
# errors) for up to an hour, then sends the schedule's Input to the dead-letter queue, whose
# alarm tells the operator. template.yaml gives its example schedule the same.
RETRY_POLICY = {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 10}


class Scheduler:
    def __init__(
        self, client: Any, group_name: str, target_arn: str, role_arn: str, dead_letter_arn: str = ""
    ) -> None:
        self._client = client
        self._group = group_name
        self._target_arn = target_arn
        self._role_arn = role_arn
        self._dead_letter_arn = dead_letter_arn

    def create(self, name: str, expression: str, *, enabled: bool, description: str, payload: Any) -> None:
        """A recurring schedule in UTC, delivering `payload` (as JSON) to the resend function."""
        self._client.create_schedule(
            Name=name,
            GroupName=self._group,
            ScheduleExpression=expression,
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            State="ENABLED" if enabled else "DISABLED",
            Description=description,
            Target={
                "Arn": self._target_arn,
                "RoleArn": self._role_arn,
                "RetryPolicy": RETRY_POLICY,
                **({"DeadLetterConfig": {"Arn": self._dead_letter_arn}} if self._dead_letter_arn else {}),
                "Input": json.dumps(payload),
            },
        )

    def delete(self, name: str) -> bool:
        """Delete a schedule; False when it was already gone."""
        try:
            self._client.delete_schedule(Name=name, GroupName=self._group)
        except self._client.exceptions.ResourceNotFoundException:
            return False
        return True
