"""Dashboard: a Cognito user pool, the read-only query API behind its JWTs, and the web page.

The page (`web/`) is served from a private bucket through CloudFront, with the security
headers of infra/web_headers.py; it signs in against the user pool and reads only through
the query API (an HTTP API whose JWT authorizer accepts the pool's tokens, and whose Lambda
may only read). docs/design.md, "The dashboard", is the contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import jsii
from aws_cdk import CfnCondition, CfnParameter, CfnResource, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra import variants, web_headers
from infra.functions import LOG_RETENTION, PackagedFunction
from infra.storage import Storage, private_bucket
from inventory import config

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
CONFIG_FILE = "config.json"  # the page's settings, written beside it at deploy time
QUERY_HANDLER = "query_api.handler.lambda_handler"
ROUTES = ("/stores", "/stores/{store}/items", "/items", "/out-of-stock", "/receipts")
# Headers a browser may send cross-origin: the token, and the ETag of the copy it holds.
ALLOWED_HEADERS = ("Authorization", "If-None-Match")
CORS_MAX_AGE = Duration.hours(1)
# The API's rate for all callers together: a handful of people polling every 5 s, with room.
THROTTLE = apigwv2.ThrottleSettings(rate_limit=50, burst_limit=100)
TOKEN_VALIDITY = Duration.hours(1)
REFRESH_TOKEN_VALIDITY = Duration.days(1)
# Headers CloudFront sets in its security-headers behaviour (the CSP included); the others of
# infra/web_headers.py go out as custom headers.
SECURITY_BEHAVIOUR_HEADERS = frozenset(
    {
        "Content-Security-Policy",
        "Strict-Transport-Security",
        "X-Content-Type-Options",
        "X-Frame-Options",
        "Referrer-Policy",
    }
)


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    """One JSON line per request in `log_group` (API Gateway's standard fields)."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._log_group = log_group

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return apigwv2.LogGroupLogDestination(self._log_group)

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.json_with_standard_fields(
            caller=False,
            http_method=True,
            ip=True,
            protocol=True,
            request_time=True,
            resource_path=True,
            response_length=True,
            status=True,
            user=False,
        )


def cognito_origin(scope: Construct) -> str:
    """`https://cognito-idp.<region>.amazonaws.com`: sign-in, and the JWT issuer's host."""
    stack = Stack.of(scope)
    return f"https://cognito-idp.{stack.region}.{stack.url_suffix}"


def api_origin_pattern(scope: Construct) -> str:
    """Every HTTP API origin of the region (`https://*.execute-api.<region>.amazonaws.com`).

    The CSP cannot name this API's own origin: the API allows the distribution's origin
    (CORS), the distribution carries the CSP, so naming the API there would be a cycle.
    """
    stack = Stack.of(scope)
    return f"https://*.execute-api.{stack.region}.{stack.url_suffix}"


def response_headers_policy(
    scope: Construct, construct_id: str, headers: dict[str, str]
) -> cloudfront.ResponseHeadersPolicy:
    """A CloudFront policy that sends exactly `headers` (infra/web_headers.py's), overriding."""
    custom = [
        cloudfront.ResponseCustomHeader(header=name, value=value, override=True)
        for name, value in headers.items()
        if name not in SECURITY_BEHAVIOUR_HEADERS
    ]
    return cloudfront.ResponseHeadersPolicy(
        scope,
        construct_id,
        comment="The dashboard's security headers (infra/web_headers.py)",
        security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
            content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                content_security_policy=headers["Content-Security-Policy"], override=True
            ),
            strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                access_control_max_age=Duration.seconds(web_headers.HSTS_MAX_AGE_S),
                include_subdomains=True,
                override=True,
            ),
            content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
            frame_options=cloudfront.ResponseHeadersFrameOptions(
                frame_option=cloudfront.HeadersFrameOption[headers["X-Frame-Options"]],
                override=True,
            ),
            referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                referrer_policy=cloudfront.HeadersReferrerPolicy[
                    headers["Referrer-Policy"].upper().replace("-", "_")
                ],
                override=True,
            ),
        ),
        custom_headers_behavior=cloudfront.ResponseCustomHeadersBehavior(custom_headers=custom)
        if custom
        else None,
    )


class Dashboard(Construct):
    """The user pool and its client, the query API and function, and the hosted page.

    The API allows (CORS) the distribution's origin and `extra_origins` (the harness's local
    server, `-c dashboard_origins=...`). The query function may only read the three tables.
    Public: `user_pool`, `client`, `function` (the query API's), `log_group`, `api`, `stage`,
    `bucket` (the page), `distribution`, `api_url` (no trailing slash), `dashboard_url`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        extra_origins: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self._users()
        self._site(storage)
        self._api(storage, [self.dashboard_url, *extra_origins])
        self._publish()

    def _users(self) -> None:
        """People the admin adds, who sign in with an email and a strong password."""
        self.user_pool = cognito.UserPool(
            self,
            "Users",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            # The accounts are demo users an admin creates with `inventory user add`; nothing
            # else lives in the pool, and a retained pool would outlive the API it signs in to.
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.client = self.user_pool.add_client(
            "Page",
            generate_secret=False,  # a browser cannot keep a secret
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            disable_o_auth=True,  # no hosted UI: the page posts InitiateAuth itself
            access_token_validity=TOKEN_VALIDITY,
            id_token_validity=TOKEN_VALIDITY,
            refresh_token_validity=REFRESH_TOKEN_VALIDITY,
            prevent_user_existence_errors=True,
        )

    def _site(self, storage: Storage) -> None:
        """The page's private bucket, read only by CloudFront (origin access control)."""
        # Retained like the other buckets: an auto-delete would add a second custom resource
        # (a Node.js Lambda) to every deploy, for a bucket whose contents each deploy rewrites.
        self.bucket = private_bucket(
            self, "Site", access_logs=storage.access_logs, access_logs_prefix="site/"
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Cdn",
            comment="The inventory dashboard",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                response_headers_policy=response_headers_policy(
                    self,
                    "SecurityHeaders",
                    web_headers.security_headers(
                        connect_to=[api_origin_pattern(self), cognito_origin(self)]
                    ),
                ),
            ),
            log_bucket=storage.access_logs,
            log_file_prefix="cdn/",
        )
        self.dashboard_url = f"https://{self.distribution.distribution_domain_name}"

    def _api(self, storage: Storage, allowed_origins: list[str]) -> None:
        """GET routes to the query function, each behind the user pool's JWTs."""
        query = PackagedFunction(
            self,
            "Query",
            handler=QUERY_HANDLER,
            description="Answers the dashboard's reads (the query API)",
            environment={
                config.ENV_TABLE_NAME: storage.table.table_name,
                config.ENV_RECEIPTS_TABLE_NAME: storage.receipts.table_name,
                config.ENV_STORE_SUMMARIES_TABLE_NAME: storage.summaries.table_name,
                "POWERTOOLS_SERVICE_NAME": config.QUERY_SERVICE,
            },
            timeout=Duration.seconds(10),
            memory_size=512,
        )
        self.function = query.function
        self.log_group = query.log_group
        # Read only: the tables and their indexes (OutOfStock, RecentReceipts).
        for table in (storage.table, storage.receipts, storage.summaries):
            table.grant_read_data(self.function)

        self.api = apigwv2.HttpApi(
            self,
            "Api",
            description="The dashboard's read-only query API",
            create_default_stage=False,
            cors_preflight=apigwv2.CorsPreflightOptions(
                allow_origins=allowed_origins,
                allow_methods=[apigwv2.CorsHttpMethod.GET],
                allow_headers=list(ALLOWED_HEADERS),
                expose_headers=["ETag"],
                max_age=CORS_MAX_AGE,
            ),
        )
        access_logs = logs.LogGroup(
            self, "ApiAccessLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=THROTTLE,
            access_log_settings=_AccessLogs(access_logs),
        )
        authorizer = authorizers.HttpJwtAuthorizer(
            "UserPoolJwt",
            f"{cognito_origin(self)}/{self.user_pool.user_pool_id}",
            jwt_audience=[self.client.user_pool_client_id],
        )
        integration = integrations.HttpLambdaIntegration("QueryFunction", self.function)
        for path in ROUTES:
            self.api.add_routes(
                path=path,
                methods=[apigwv2.HttpMethod.GET],
                integration=integration,
                authorizer=authorizer,
            )
        # The $default stage is served at the API's root: no stage in the path.
        self.api_url = self.api.api_endpoint

    def _publish(self) -> None:
        """Upload web/ and the page's config.json, then refresh CloudFront's copies.

        Unless the stack parameter `PublishDashboard` is false: MiniStack runs Lambdas as local
        processes, where the AWS CLI layer is not at /opt/awscli/aws, so its BucketDeployment
        cannot run; the harness serves the page itself there and deploys with it false.
        """
        region = Stack.of(self).region
        deployment = s3deploy.BucketDeployment(
            self,
            "Publish",
            destination_bucket=self.bucket,
            sources=[
                s3deploy.Source.asset(str(WEB_DIR), exclude=[CONFIG_FILE]),
                s3deploy.Source.json_data(
                    CONFIG_FILE,
                    {
                        "region": region,
                        "userPoolId": self.user_pool.user_pool_id,
                        "clientId": self.client.user_pool_client_id,
                        "apiUrl": self.api_url,
                        "cognitoEndpoint": f"{cognito_origin(self)}/",
                    },
                ),
            ],
            distribution=self.distribution,
            distribution_paths=["/*"],
        )
        publish = CfnParameter(
            Stack.of(self),
            variants.PUBLISH_DASHBOARD_PARAMETER,
            type="String",
            allowed_values=["true", "false"],
            default="true",
            description="Upload the dashboard's page to its bucket (false on the emulator)",
        )
        publishing = CfnCondition(
            self, "Publishing", expression=Fn.condition_equals(publish.value_as_string, "true")
        )
        upload = cast(CfnResource, deployment.node.find_child("CustomResource").node.default_child)
        upload.cfn_options.condition = publishing
