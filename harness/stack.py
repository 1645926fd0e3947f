"""Deploy InventoryStack (or its lab-style baseline variant) with the CDK CLI; read outputs."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from harness import dashboard, emulator, env
from infra import variants
from infra.outputs import MissingOutputsError, StackOutputs

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
BIN = ROOT / "node_modules" / ".bin"
STACK_NAME = variants.stack_name(variants.OURS)
# jsii warns loudly on Node 20; the CLI pins are tested on it, so keep the output readable.
QUIET_JSII = {
    f"JSII_SILENCE_WARNING_{kind}_NODE_VERSION": "20"
    for kind in ("END_OF_LIFE", "DEPRECATED", "UNTESTED", "KNOWN_BROKEN")
}


class DeployError(RuntimeError):
    """The CDK CLI failed, or a deployed stack is not what the tooling needs; says why."""


class StackNotDeployedError(DeployError):
    """The stack does not exist at the endpoint the SDK is pointed at."""


def cdk_environment() -> dict[str, str]:
    environ = {**os.environ, **QUIET_JSII, "CDK_DISABLE_VERSION_CHECK": "1"}
    environ.setdefault("CDK_NEW_BOOTSTRAP", "1")
    if "AWS_CA_BUNDLE" in environ:
        # cdklocal drops every AWS_* variable but AWS_ENDPOINT_URL* unless allowlisted; without
        # AWS_CA_BUNDLE the CLI would trust REQUESTS_CA_BUNDLE or the system roots alone, not
        # the https emulator's certificate (harness/env.py).
        allowed = [n for n in environ.get("AWS_ENVAR_ALLOWLIST", "").split(",") if n.strip()]
        environ["AWS_ENVAR_ALLOWLIST"] = ",".join([*allowed, "AWS_CA_BUNDLE"])
    return environ


def _cli(*args: str, tool: str = "cdklocal") -> str:
    executable = BIN / tool
    if not executable.exists():
        raise DeployError(f"{executable.relative_to(ROOT)} is missing; run `make install` first")
    result = subprocess.run(
        [str(executable), *args], cwd=INFRA, env=cdk_environment(),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise DeployError(f"{tool} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


def stack_name(variant: str = variants.DEFAULT_VARIANT) -> str:
    """The stack a variant deploys as: InventoryStack (ours) or InventoryBaselineStack."""
    return variants.stack_name(variant)


def _cloud_assembly(variant: str) -> str:
    # Each variant and each emulator synthesizes into its own folder: the CDK CLI locks the
    # folder it reads, so one shared cdk.out would make two deploys at once (ours and the
    # baseline, or two emulators on other ports) refuse to run.
    return f"../cdk.out/local-{env.endpoint_port()}/{variant}"


def deploy_local(variant: str = variants.DEFAULT_VARIANT) -> StackOutputs:
    """cdklocal bootstrap + deploy one variant to the emulator at AWS_ENDPOINT_URL; its outputs."""
    name = stack_name(variant)  # an unknown variant fails here, before any CLI runs
    env.use_emulator_defaults()
    started = time.perf_counter()
    account = env.client("sts").get_caller_identity()["Account"]
    region = os.environ["AWS_DEFAULT_REGION"]
    _cli("bootstrap", f"aws://{account}/{region}", "--quiet")
    _cli(
        "deploy", name, "--require-approval", "never", "--progress", "events",
        "--context", f"{variants.CONTEXT_KEY}={variant}",
        # Publish and deploy with the CLI's own keys, not through the bootstrap's roles, so
        # the deploy does not depend on MiniStack's role assumption (docs/deploying.md).
        "--context", f"{variants.SYNTHESIZER_CONTEXT_KEY}={variants.CLI_CREDENTIALS}",
        # The API's CORS lets the local dashboard server call it (on AWS: the distribution).
        "--context", f"{variants.DASHBOARD_ORIGINS_CONTEXT_KEY}={_dashboard_origin()}",
        *_local_parameters(variant),
        "--output", _cloud_assembly(variant),
    )  # fmt: skip
    deployed = outputs(variant)
    if variant == variants.OURS:
        _apply_api_cors(name, _cloud_assembly(variant))
    print(f"Deployed {name} to {env.endpoint()} in {time.perf_counter() - started:.1f} s")
    return deployed


def _local_parameters(variant: str) -> list[str]:
    # MiniStack cannot run CDK's BucketDeployment (its handler calls /opt/awscli/aws, and the
    # local executor puts layers on sys.path, not /opt): the page is served by the local
    # server instead (harness/dashboard.py), so the upload is skipped. Nor does its
    # CloudFormation know AWS::CloudTrail::Trail: the upload bucket's audit trail is AWS only.
    if variant != variants.OURS:
        return []
    return [
        "--parameters", f"{variants.PUBLISH_DASHBOARD_PARAMETER}=false",
        "--parameters", f"{variants.AUDIT_UPLOADS_PARAMETER}=false",
    ]  # fmt: skip


def _apply_api_cors(name: str, assembly: str) -> None:
    """Set the HTTP API's CORS configuration again, as the template declares it.

    MiniStack 1.5.33's CloudFormation stores `CorsConfiguration` under CloudFormation's
    names while its gateway reads the API's own (`allowOrigins`...), so a deployed API
    refuses every preflight; `UpdateApi` with the same values fixes it. On AWS the template
    alone does it. Origins the template builds from other resources (the distribution's
    domain) are left out: on the emulator the page comes from the local server.
    """
    template = json.loads((INFRA / assembly / f"{name}.template.json").read_text())
    wanted: dict[str, dict[str, object]] = {}
    for logical, resource in template["Resources"].items():
        cors = resource.get("Properties", {}).get("CorsConfiguration")
        if resource["Type"] == "AWS::ApiGatewayV2::Api" and cors:
            origins = [o for o in cors.get("AllowOrigins", []) if isinstance(o, str)]
            wanted[logical] = {**cors, "AllowOrigins": origins}
    resources = env.client("cloudformation").describe_stack_resources(StackName=name)
    for resource in resources["StackResources"]:
        if resource["LogicalResourceId"] in wanted:
            env.client("apigatewayv2").update_api(
                ApiId=resource["PhysicalResourceId"],
                CorsConfiguration=wanted[resource["LogicalResourceId"]],
            )


def _dashboard_origin() -> str:
    url = urlparse(dashboard.url(dashboard.dashboard_port(env.endpoint_port())))
    return f"{url.scheme}://{url.netloc}"


def outputs(variant: str = variants.DEFAULT_VARIANT) -> StackOutputs:
    """A deployed variant's outputs, from whichever endpoint the SDK is pointed at."""
    name = stack_name(variant)
    try:
        stacks = env.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            raise StackNotDeployedError(f"{name} is not deployed at {_where()}") from exc
        raise
    found = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    try:
        deployed = StackOutputs.from_outputs(found, name)
    except MissingOutputsError as exc:
        raise DeployError(str(exc)) from exc
    return served_here(deployed) if env.on_emulator() else deployed


def served_here(deployed: StackOutputs) -> StackOutputs:
    """The outputs as this machine reaches them on the emulator: the API at the emulator's
    `/_aws/execute-api/<apiId>/$default` path (no DNS for `<apiId>.execute-api...` here), the
    page at the local server `inventory up` starts (`harness/dashboard.py`)."""
    if not deployed.api_url:
        return deployed
    api_id = (urlparse(deployed.api_url).hostname or "").split(".", 1)[0]
    return dataclasses.replace(
        deployed,
        api_url=f"{env.endpoint()}/_aws/execute-api/{api_id}/$default",
        dashboard_url=dashboard.url(dashboard.dashboard_port(env.endpoint_port())),
    )


def serve_dashboard(outputs: StackOutputs) -> str:
    """Start (or keep) the local server of the dashboard for this emulator; its URL."""
    if not (outputs.api_url and outputs.user_pool_id and outputs.user_pool_client_id):
        raise DeployError("this stack has no dashboard outputs; redeploy it (`make up`)")
    config = {
        "region": os.environ["AWS_DEFAULT_REGION"],
        "userPoolId": outputs.user_pool_id,
        "clientId": outputs.user_pool_client_id,
        "apiUrl": outputs.api_url,
        "cognitoEndpoint": f"{env.endpoint()}/",
    }
    return dashboard.start(dashboard.dashboard_port(env.endpoint_port()), config)


def _where() -> str:
    return os.environ.get("AWS_ENDPOINT_URL") or "AWS (your credentials and region)"


def running(
    variant: str = variants.DEFAULT_VARIANT, *, aws: bool = False, redeploy: bool = False
) -> StackOutputs:
    """The one way tooling gets a running stack.

    With `aws`, the endpoint and credentials are the SDK's own (AWS itself, or whatever
    AWS_ENDPOINT_URL names), and nothing is started or deployed. Otherwise the emulator
    defaults apply: MiniStack is started unless something answers, and the stack is deployed
    when it is missing, or always with `redeploy` (so the code under test is what runs).
    """
    if aws:
        return outputs(variant)
    env.use_emulator_defaults()
    emulator.start()
    if not redeploy:
        try:
            return outputs(variant)
        except StackNotDeployedError:
            pass
    return deploy_local(variant)


def for_command(aws: bool, console: Any) -> StackOutputs | None:
    """The outputs a command that reads the deployed stack works on: on AWS with `aws` (the
    SDK's own credentials), else on the emulator, which must already answer (None, and a
    one-line error on `console`, when it does not: such commands start nothing)."""
    if not aws:
        env.use_emulator_defaults()
        if not emulator.is_healthy(timeout=5.0):
            console.print(
                f"[red]error:[/] nothing answers at {env.endpoint()}; start it with "
                "`inventory up` (or pass --aws for the stack on AWS)"
            )
            return None
    return outputs()
