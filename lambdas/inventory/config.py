"""Names shared by the CDK stack, the handlers and the tests (no values are read here)."""

# Environment variables the functions read once at cold start.
ENV_TABLE_NAME = "TABLE_NAME"
ENV_RECEIPTS_TABLE_NAME = "RECEIPTS_TABLE_NAME"
ENV_TOPIC_ARN = "TOPIC_ARN"
# The lab-style baseline finds its topic by name (list_topics), as the original lab did.
ENV_TOPIC_NAME = "TOPIC_NAME"
# Check-Stock remembers the alerts it has sent here (powertools idempotency).
ENV_ALERTS_SENT_TABLE_NAME = "ALERTS_SENT_TABLE_NAME"
ENV_ALERTS_SENT_TTL_SECONDS = "ALERTS_SENT_TTL_SECONDS"

# Inventory table attributes.
ATTR_STORE = "Store"
ATTR_ITEM = "Item"
ATTR_COUNT = "Count"
ATTR_SOURCE_KEY = "SourceKey"
ATTR_UPDATED_AT = "UpdatedAt"
# Which upload the value came from (inventory.versions): writes only ever raise it.
ATTR_VERSION = "Version"
# The upload that wrote the item (its S3 request id, or its sequencer): `inventory trace`
# follows it through the stream to Check-Stock's log lines and the NoStock message.
ATTR_CORRELATION_ID = "CorrelationId"

# Set to the store on a row whose count is 0, absent otherwise: the sparse OutOfStock index.
ATTR_OUT_OF_STOCK_STORE = "OutOfStockStore"
INDEX_OUT_OF_STOCK = "OutOfStock"

# Receipts table key: one receipt per uploaded object version.
ATTR_OBJECT_KEY = "ObjectKey"
ATTR_RECEIPT_ID = "ReceiptId"
# The RecentReceipts index: receipts by the day they were written, newest first.
ATTR_PROCESSED_DAY = "ProcessedDay"
ATTR_PROCESSED_AT = "processed_at"  # the Receipt field, stored under its own name
INDEX_RECENT_RECEIPTS = "RecentReceipts"

# StoreSummaries: one item per store, refreshed by Load-Inventory after it writes the store.
ENV_STORE_SUMMARIES_TABLE_NAME = "STORE_SUMMARIES_TABLE_NAME"
ATTR_SUMMARY_ITEMS = "Items"
ATTR_SUMMARY_OUT_OF_STOCK = "OutOfStock"
ATTR_SUMMARY_COMPUTED_AT = "ComputedAt"  # when the refresh's query began: newer ones win

METRICS_NAMESPACE = "InventoryPipeline"
LOAD_SERVICE = "load-inventory"
CHECK_SERVICE = "check-stock"
QUERY_SERVICE = "query-api"

# The SNS message attribute a subscriber filters on.
ALERT_ATTRIBUTE_STORE = "store"
