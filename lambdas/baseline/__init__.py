"""Lab-style functions: the original lab's behaviour, the "before" that `make bench` measures.

Deliberately naive; never a model for new code. Deployed with `cdk deploy -c variant=baseline`
as InventoryBaselineStack (see infra/variants.py). They import only boto3 (which the Lambda
runtime provides) and, for the receipt the harness observes, the domain package.
"""
