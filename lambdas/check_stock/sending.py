"""Send each NoStock alert once, however often its stream record is delivered.

Stream batches are retried as a whole, and a re-drive delivers them again: `AlertSender`
remembers every alert it sent, keyed by the change (store, item and `change_id`), with
powertools idempotency, and sends it only the first time. The memory outlives every retry
and re-drive (AlertsSent's TTL, set in the stack).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from check_stock.alerts import AlertPublisher
from inventory.stock import NoStockAlert

# The parts of a transition that identify it; the rest of the message rides along.
KEY_FIELDS = ("store", "item", "change")


def idempotency_config(ttl_seconds: int) -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="[" + ", ".join(KEY_FIELDS) + "]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=ttl_seconds,
        use_local_cache=False,  # the table is the memory: warm workers must not diverge from it
    )


def transition(alert: NoStockAlert, change: str) -> dict[str, Any]:
    return {**alert.message(), "change": change}


class AlertSender:
    """Publishes an alert the first time its transition is seen; `send` says if it did.

    `on_sent` is told of each alert published, with the message id SNS gave it.
    """

    def __init__(
        self,
        publisher: AlertPublisher,
        persistence: BasePersistenceLayer,
        config: IdempotencyConfig,
        on_sent: Callable[[NoStockAlert, str], None] = lambda alert, message_id: None,
    ) -> None:
        self._publisher = publisher
        self._config = config
        self._on_sent = on_sent
        self._published_now = False
        self._send_once = idempotent_function(
            data_keyword_argument="transition", config=config, persistence_store=persistence
        )(self._publish)

    def register(self, context: LambdaContext) -> None:
        """Lets an interrupted send be retried once the invocation that started it is over."""
        self._config.register_lambda_context(context)

    def send(self, alert: NoStockAlert, change: str) -> bool:
        """Publish unless this change was published before; True if published now."""
        self._published_now = False
        self._send_once(transition=transition(alert, change))
        return self._published_now

    def _publish(self, transition: dict[str, Any]) -> dict[str, Any]:
        store, item = transition["store"], transition["item"]
        alert = NoStockAlert(
            store,
            item,
            transition["previous_count"],
            transition["source_key"],
            transition["updated_at"],
            transition.get("correlation_id"),
        )
        message_id = self._publisher.publish(alert)
        self._published_now = True
        self._on_sent(alert, message_id)
        return {"published": transition["change"]}
