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

# Receipts table key: one receipt per uploaded object version.
ATTR_OBJECT_KEY = "ObjectKey"
ATTR_RECEIPT_ID = "ReceiptId"

METRICS_NAMESPACE = "InventoryPipeline"
LOAD_SERVICE = "load-inventory"
CHECK_SERVICE = "check-stock"

# The SNS message attribute a subscriber filters on.
ALERT_ATTRIBUTE_STORE = "store"
