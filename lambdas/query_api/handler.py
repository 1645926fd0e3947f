"""Query API: the dashboard's read-only HTTP API (API Gateway HTTP API, JWT authorizer)."""

import os

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from inventory import config
from query_api.routes import build_app, routable
from query_api.settings import QuerySettings
from query_api.wiring import dynamo_reads

settings = QuerySettings.from_env(os.environ)  # fails the cold start if a setting is missing
logger = Logger(service=config.QUERY_SERVICE)
tracer = Tracer(service=config.QUERY_SERVICE)
app = build_app(dynamo_reads(settings), logger)


@tracer.capture_lambda_handler(capture_response=False)  # pages of the inventory: too large
@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(routable(event), context)
