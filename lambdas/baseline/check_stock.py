"""Lab-style Check-Stock: alert on every write of a 0, finding the topic with list_topics.

Deliberately the original lab's behaviour (the "before" in `make bench`); do not copy it:
- the stream is NEW_IMAGE only, so it cannot tell "became 0" from "was already 0": every
  write of a 0 alerts, and re-uploading a file alerts again for each of its zeros;
- the topic is looked up by name with `list_topics` on every alert;
- one failure fails the whole batch (no partial batch failure reporting).
The message has the same shape and `store` attribute as ours, so the harness counts both alike.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

from inventory import config

sns = boto3.client("sns")
TOPIC_NAME = os.environ[config.ENV_TOPIC_NAME]


def find_topic_arn() -> str:
    """lab: list every topic and take the one whose ARN ends in the NoStock name."""
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page["Topics"]:
            if topic["TopicArn"].endswith(":" + TOPIC_NAME):
                return str(topic["TopicArn"])
    raise LookupError(f"no SNS topic named {TOPIC_NAME}")


def lambda_handler(event: dict[str, Any], context: Any) -> str:
    for record in event["Records"]:
        new_image = record["dynamodb"].get("NewImage")
        if not new_image or int(new_image[config.ATTR_COUNT]["N"]) != 0:
            continue
        store = new_image[config.ATTR_STORE]["S"]
        message = {
            "store": store,
            "item": new_image[config.ATTR_ITEM]["S"],
            "count": 0,
            "previous_count": None,  # NEW_IMAGE: the old count is not in the record
            "source_key": new_image.get(config.ATTR_SOURCE_KEY, {}).get("S"),
            "updated_at": new_image.get(config.ATTR_UPDATED_AT, {}).get("S"),
        }
        sns.publish(
            TopicArn=find_topic_arn(),  # lab: a ListTopics call per alert
            Subject="Inventory Alert!",
            Message=json.dumps(message, ensure_ascii=False),
            MessageAttributes={
                config.ALERT_ATTRIBUTE_STORE: {"DataType": "String", "StringValue": store}
            },
        )
    return f"Successfully processed {len(event['Records'])} records."
