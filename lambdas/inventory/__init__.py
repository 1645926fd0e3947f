"""The pure domain of the inventory pipeline: CSV format, stock rule, batching, receipts.

Nothing here imports boto3 or reads the environment; the handlers adapt it to AWS.
"""
