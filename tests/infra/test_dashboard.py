"""The dashboard (ours only): users, the read-only query API behind their JWTs, the hosted page.

Also what it needs from the rest of the stack: the OutOfStock and RecentReceipts indexes, the
StoreSummaries table, and the loader's grants to refresh the summaries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra import variants, web_headers
from infra.bundling import FUNCTION_REQUIREMENTS, LAMBDAS_DIR, PipBundler, requirements
from infra.dashboard import ALLOWED_HEADERS, ROUTES
from infra.functions import RUNTIME
from infra.outputs import MissingOutputsError, StackOutputs
from inventory import config
from tests.infra.queries import (
    BASELINE_LOADER,
    OUR_LOADER,
    OUR_QUERY,
    allows,
    arn,
    as_list,
    data_statements,
    function_id,
    function_props,
    granted,
    inventory_table_id,
    only_resource,
    receipts_table_id,
    resolve,
    role_statements,
    summaries_table_id,
)
from tests.infra.stacks import build

pytestmark = pytest.mark.infra

DASHBOARD_OUTPUTS = {"DashboardUrl", "ApiUrl", "UserPoolId", "UserPoolClientId"}
LOCAL_ORIGINS = "http://127.0.0.1:5566, http://localhost:5566"
# Every action that changes a table's data or the table itself (IAM wildcards are matched).
WRITES = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:TransactWriteItems",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
    "dynamodb:CreateTable",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
    "dynamodb:RestoreTableFromBackup",
    "dynamodb:ImportTable",
)


def index(template: Template, table: str, name: str) -> dict[str, Any]:
    props = template.find_resources("AWS::DynamoDB::Table")[table]["Properties"]
    (found,) = [i for i in props.get("GlobalSecondaryIndexes", []) if i["IndexName"] == name]
    return dict(found)


def api(template: Template) -> dict[str, Any]:
    return only_resource(template, "AWS::ApiGatewayV2::Api")[1]


# --- data the API reads ---


def test_out_of_stock_is_a_sparse_index_of_inventory(template: Template) -> None:
    found = index(template, inventory_table_id(template), config.INDEX_OUT_OF_STOCK)
    assert found["KeySchema"] == [
        {"AttributeName": config.ATTR_OUT_OF_STOCK_STORE, "KeyType": "HASH"},
        {"AttributeName": config.ATTR_ITEM, "KeyType": "RANGE"},
    ]
    assert found["Projection"] == {"ProjectionType": "ALL"}


def test_recent_receipts_indexes_receipts_by_day_and_time(template: Template) -> None:
    found = index(template, receipts_table_id(template), config.INDEX_RECENT_RECEIPTS)
    assert found["KeySchema"] == [
        {"AttributeName": config.ATTR_PROCESSED_DAY, "KeyType": "HASH"},
        {"AttributeName": config.ATTR_PROCESSED_AT, "KeyType": "RANGE"},
    ]
    assert found["Projection"] == {"ProjectionType": "ALL"}


def test_store_summaries_is_keyed_by_store_on_demand_recoverable_and_retained(
    template: Template,
) -> None:
    table = template.find_resources("AWS::DynamoDB::Table")[summaries_table_id(template)]
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": config.ATTR_STORE, "KeyType": "HASH"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert "StreamSpecification" not in props
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def test_loader_may_query_inventory_and_put_summaries_only(template: Template) -> None:
    statements = role_statements(template, OUR_LOADER)
    queries = granted(statements, "dynamodb:Query")
    # The base table only (the refresh reads consistently, which no index offers).
    assert [as_list(s["Resource"]) for s in queries] == [[arn(inventory_table_id(template))]]
    summaries = arn(summaries_table_id(template))
    on_summaries = [s for s in statements if summaries in as_list(s["Resource"])]
    assert [s["Action"] for s in on_summaries] == ["dynamodb:PutItem"]


def test_baseline_loader_keeps_the_labs_grants(baseline: Template) -> None:
    loader = role_statements(baseline, BASELINE_LOADER)
    assert granted(loader, "dynamodb:Query") == []
    summaries = arn(summaries_table_id(baseline))
    assert all(summaries not in as_list(s["Resource"]) for s in loader)


# --- users ---


def test_user_pool_admits_only_admin_created_users_with_strong_passwords(
    template: Template,
) -> None:
    props = only_resource(template, "AWS::Cognito::UserPool")[1]
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert props["UsernameAttributes"] == ["email"]
    policy = props["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    for kind in ("Lowercase", "Uppercase", "Numbers", "Symbols"):
        assert policy[f"Require{kind}"] is True
    assert props["AccountRecoverySetting"] == {
        "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
    }


def test_client_has_no_secret_and_only_the_password_and_srp_flows(template: Template) -> None:
    props = only_resource(template, "AWS::Cognito::UserPoolClient")[1]
    assert props.get("GenerateSecret", False) is False
    assert set(props["ExplicitAuthFlows"]) == {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    assert props["PreventUserExistenceErrors"] == "ENABLED"
    assert props["AccessTokenValidity"] <= 60 and props["IdTokenValidity"] <= 60
    assert props["TokenValidityUnits"]["AccessToken"] == "minutes"
    assert props["RefreshTokenValidity"] == 1440  # a day, in minutes


# --- the query API ---


def test_jwt_authorizer_trusts_the_pools_tokens_for_this_client(template: Template) -> None:
    pool = only_resource(template, "AWS::Cognito::UserPool")[0]
    client = only_resource(template, "AWS::Cognito::UserPoolClient")[0]
    props = only_resource(template, "AWS::ApiGatewayV2::Authorizer")[1]
    assert props["AuthorizerType"] == "JWT"
    assert props["IdentitySource"] == ["$request.header.Authorization"]
    jwt = props["JwtConfiguration"]
    assert resolve(jwt["Issuer"]) == f"https://cognito-idp.<Region>.<URLSuffix>/<{pool}>"
    assert jwt["Audience"] == [{"Ref": client}]


OPENAPI_DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_the_api_routes_are_the_operations_of_its_openapi_document() -> None:
    document = json.loads(
        (Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text()
    )

    assert set(ROUTES) == set(document["paths"])
    assert all(set(operations) == {"get"} for operations in document["paths"].values())


def test_each_route_is_a_get_behind_the_authorizer(template: Template) -> None:
    authorizer = only_resource(template, "AWS::ApiGatewayV2::Authorizer")[0]
    routes = template.find_resources("AWS::ApiGatewayV2::Route")
    assert {r["Properties"]["RouteKey"] for r in routes.values()} == {f"GET {p}" for p in ROUTES}
    for route in routes.values():
        assert route["Properties"]["AuthorizationType"] == "JWT"
        assert route["Properties"]["AuthorizerId"] == {"Ref": authorizer}


def test_cors_allows_only_the_dashboard_origin_and_only_get(template: Template) -> None:
    cors = api(template)["CorsConfiguration"]
    (origin,) = cors["AllowOrigins"]
    cdn = only_resource(template, "AWS::CloudFront::Distribution")[0]
    assert origin == {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [cdn, "DomainName"]}]]}
    assert cors["AllowMethods"] == ["GET"]
    assert cors["AllowHeaders"] == list(ALLOWED_HEADERS)
    assert cors["ExposeHeaders"] == ["ETag"]
    assert cors["MaxAge"] > 0
    assert not cors.get("AllowCredentials")


def test_cors_also_allows_the_origins_given_in_context(
    tmp_path: Path, cdk_context: dict[str, Any]
) -> None:
    context = {**cdk_context, variants.DASHBOARD_ORIGINS_CONTEXT_KEY: LOCAL_ORIGINS}
    origins = api(Template.from_stack(build(tmp_path, context)))["CorsConfiguration"][
        "AllowOrigins"
    ]
    assert origins[1:] == ["http://127.0.0.1:5566", "http://localhost:5566"]


@pytest.mark.parametrize("bad", ["127.0.0.1:5566", "ftp://x", "http://x/path", "https://"])
def test_a_context_value_that_is_not_an_origin_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        variants.dashboard_origins(bad)


def test_no_context_means_no_extra_origins() -> None:
    assert variants.dashboard_origins(None) == []
    assert variants.dashboard_origins(" ") == []


def test_default_stage_is_throttled_and_access_logged(template: Template) -> None:
    props = only_resource(template, "AWS::ApiGatewayV2::Stage")[1]
    assert props["StageName"] == "$default" and props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert props["DefaultRouteSettings"]["ThrottlingBurstLimit"] > 0
    assert "$context.requestId" in props["AccessLogSettings"]["Format"]


def test_query_function_is_told_the_three_tables_and_its_service(template: Template) -> None:
    variables = function_props(template, OUR_QUERY)["Environment"]["Variables"]
    assert variables == {
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_SERVICE_NAME": config.QUERY_SERVICE,
        config.ENV_TABLE_NAME: {"Ref": inventory_table_id(template)},
        config.ENV_RECEIPTS_TABLE_NAME: {"Ref": receipts_table_id(template)},
        config.ENV_STORE_SUMMARIES_TABLE_NAME: {"Ref": summaries_table_id(template)},
    }


@pytest.mark.parametrize("action", WRITES)
def test_query_function_cannot_write_anything(template: Template, action: str) -> None:
    assert granted(role_statements(template, OUR_QUERY), action) == []


def test_query_function_reads_the_three_tables_and_their_indexes_only(template: Template) -> None:
    statements = data_statements(template, OUR_QUERY)  # tracing aside (test_monitoring)
    assert {a for s in statements for a in as_list(s["Action"])} <= {
        "dynamodb:BatchGetItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:Query",
        "dynamodb:Scan",
    }
    tables = [inventory_table_id(template), receipts_table_id(template)]
    expected = [arn(t) for t in [*tables, summaries_table_id(template)]]
    expected += [{"Fn::Join": ["", [arn(t), "/index/*"]]} for t in tables]
    resources = [r for s in statements for r in as_list(s["Resource"])]
    assert sorted(map(str, resources)) == sorted(map(str, expected))
    assert all(allows(s, "dynamodb:Query") for s in statements)


def test_query_function_is_invoked_only_by_its_api_and_synchronously(template: Template) -> None:
    api_id = only_resource(template, "AWS::ApiGatewayV2::Api")[0]
    permissions = template.find_resources(
        "AWS::Lambda::Permission", {"Properties": {"Principal": "apigateway.amazonaws.com"}}
    ).values()
    sources = {resolve(p["Properties"]["SourceArn"]) for p in permissions}
    prefix = f"arn:<Partition>:execute-api:<Region>:<AccountId>:<{api_id}>/*/*"
    assert sources == {prefix + path for path in ROUTES}
    query = {"Ref": function_id(template, OUR_QUERY)}
    assert not template.find_resources(
        "AWS::Lambda::EventInvokeConfig", {"Properties": {"FunctionName": query}}
    )


# --- the page ---


def site_bucket_id(template: Template) -> str:
    """The bucket CloudFront reads (through origin access control)."""
    cdn = only_resource(template, "AWS::CloudFront::Distribution")[1]
    (origin,) = cdn["DistributionConfig"]["Origins"]
    return str(origin["DomainName"]["Fn::GetAtt"][0])


def test_distribution_reads_the_private_bucket_through_origin_access_control(
    template: Template,
) -> None:
    oac = only_resource(template, "AWS::CloudFront::OriginAccessControl")[0]
    config_ = only_resource(template, "AWS::CloudFront::Distribution")[1]["DistributionConfig"]
    (origin,) = config_["Origins"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac, "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy OAI
    assert config_["DefaultRootObject"] == "index.html"
    assert config_["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    site = site_bucket_id(template)
    props = template.find_resources("AWS::S3::Bucket")[site]["Properties"]
    assert props["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": site},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "s3:GetObject",
                                "Principal": {"Service": "cloudfront.amazonaws.com"},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_response_headers_policy_sends_the_headers_of_web_headers(template: Template) -> None:
    policy_id, props = only_resource(template, "AWS::CloudFront::ResponseHeadersPolicy")
    config_ = props["ResponseHeadersPolicyConfig"]
    security = config_["SecurityHeadersConfig"]
    connect = [
        "https://*.execute-api.<Region>.<URLSuffix>",
        "https://cognito-idp.<Region>.<URLSuffix>",
    ]
    expected = web_headers.security_headers(connect_to=connect)
    assert resolve(security["ContentSecurityPolicy"]["ContentSecurityPolicy"]) == expected.pop(
        "Content-Security-Policy"
    )
    hsts = security["StrictTransportSecurity"]
    assert hsts["AccessControlMaxAgeSec"] == web_headers.HSTS_MAX_AGE_S
    assert hsts["IncludeSubdomains"] is True
    assert expected.pop("Strict-Transport-Security") == (
        f"max-age={web_headers.HSTS_MAX_AGE_S}; includeSubDomains"
    )
    assert expected.pop("X-Content-Type-Options") == "nosniff" and security["ContentTypeOptions"]
    assert security["FrameOptions"]["FrameOption"] == expected.pop("X-Frame-Options")
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == expected.pop("Referrer-Policy")
    custom = {h["Header"]: h["Value"] for h in config_["CustomHeadersConfig"]["Items"]}
    assert custom == expected  # the rest: Cross-Origin-Opener-Policy
    overrides = [v["Override"] for v in security.values()]
    overrides += [h["Override"] for h in config_["CustomHeadersConfig"]["Items"]]
    assert all(overrides)
    behaviour = only_resource(template, "AWS::CloudFront::Distribution")[1]
    default = behaviour["DistributionConfig"]["DefaultCacheBehavior"]
    assert default["ResponseHeadersPolicyId"] == {"Ref": policy_id}


def test_deployment_writes_the_pages_config_unless_told_not_to(template: Template) -> None:
    logical_id, props = only_resource(template, "Custom::CDKBucketDeployment")
    assert props["DestinationBucketName"] == {"Ref": site_bucket_id(template)}
    (markers,) = [m for m in props["SourceMarkers"] if m]
    assert len(markers) == 5  # region, userPoolId, clientId, apiUrl, cognitoEndpoint
    parameter = variants.PUBLISH_DASHBOARD_PARAMETER
    assert template.to_json()["Parameters"][parameter]["Default"] == "true"
    condition = template.find_resources("Custom::CDKBucketDeployment")[logical_id]["Condition"]
    template.has_condition(condition, {"Fn::Equals": [{"Ref": parameter}, "true"]})


# --- outputs ---


def test_ours_has_the_four_dashboard_outputs(template: Template) -> None:
    assert set(template.find_outputs("*")) >= DASHBOARD_OUTPUTS
    assert set(template.find_outputs("*")) == set(StackOutputs.names())
    pool = only_resource(template, "AWS::Cognito::UserPool")[0]
    client = only_resource(template, "AWS::Cognito::UserPoolClient")[0]
    template.has_output("UserPoolId", {"Value": {"Ref": pool}})
    template.has_output("UserPoolClientId", {"Value": {"Ref": client}})
    api_id = only_resource(template, "AWS::ApiGatewayV2::Api")[0]
    template.has_output("ApiUrl", {"Value": {"Fn::GetAtt": [api_id, "ApiEndpoint"]}})
    cdn = only_resource(template, "AWS::CloudFront::Distribution")[0]
    url = template.find_outputs("DashboardUrl")["DashboardUrl"]["Value"]
    assert resolve(url) == f"https://<{cdn}.DomainName>"


def test_baseline_has_no_dashboard_and_none_of_its_outputs(baseline: Template) -> None:
    assert not DASHBOARD_OUTPUTS & set(baseline.find_outputs("*"))
    for kind in (
        "AWS::Cognito::UserPool",
        "AWS::ApiGatewayV2::Api",
        "AWS::CloudFront::Distribution",
    ):
        baseline.resource_count_is(kind, 0)


def test_outputs_without_the_dashboards_read_back_and_print_without_them() -> None:
    required = {name: f"value of {name}" for name in StackOutputs.required_names()}
    outputs = StackOutputs.from_outputs(required)
    assert outputs.api_url is None
    assert outputs.as_outputs() == required
    full = StackOutputs.from_outputs({**required, **{n: n for n in DASHBOARD_OUTPUTS}})
    assert full.as_outputs()["ApiUrl"] == "ApiUrl"
    with pytest.raises(MissingOutputsError, match="BucketName"):
        StackOutputs.from_outputs({k: v for k, v in required.items() if k != "BucketName"})


# --- bundling: the query function's own requirements ---


def test_a_function_with_its_own_requirements_installs_them_too() -> None:
    own = LAMBDAS_DIR / "query_api" / FUNCTION_REQUIREMENTS
    assert requirements("query_api") == [LAMBDAS_DIR / "requirements.txt", own]
    assert requirements("load_inventory") == [LAMBDAS_DIR / "requirements.txt"]
    assert "pydantic==" in own.read_text()


def test_query_bundle_holds_pydantic_for_the_lambda_platform(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    out = tmp_path_factory.mktemp("query_api.asset")
    assert PipBundler("query_api", RUNTIME).try_bundle(str(out)) is True
    assert (out / "query_api").is_dir() and (out / "aws_lambda_powertools").is_dir()
    # pydantic-core is compiled: the wheel must be the Lambda's (CPython 3.13, x86_64 Linux).
    (core,) = out.glob("pydantic_core/_pydantic_core.cpython-313-x86_64-linux-gnu.so")
    assert core.is_file()
