"""The CDK app: InventoryStack and the pieces it is built from."""
