"""Deploy InventoryStack (or its lab-style baseline variant) with the CDK CLI; read outputs."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from harness import dashboard, emulator, env
from infra import variants
from infra.outputs import MissingOutputsError, StackOutputs

if TYPE_CHECKING:
    from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
BIN = ROOT / "node_modules" / ".bin"
STACK_NAME = variants.stack_name(variants.OURS)
BOOTSTRAP_STACK = "CDKToolkit"  # what `cdk bootstrap` deploys (the default toolkit stack name)
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


def _cli(*args: str, tool: str = "cdklocal", echo: Console | None = None) -> str:
    """Run the CDK CLI in infra/; its output. `echo` shows the output as it comes."""
    executable = BIN / tool
    if not executable.exists():
        raise DeployError(f"{executable.relative_to(ROOT)} is missing; run `make install` first")
    with subprocess.Popen(
        [str(executable), *args], cwd=INFRA, env=cdk_environment(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    ) as process:  # fmt: skip
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if echo is not None:
                echo.out(line.rstrip("\n"), highlight=False)
    output = "".join(lines)
    if process.returncode != 0:
        raise DeployError(_cli_failure(tool, args, output))
    return output


# What the CDK CLI prints when the account was never bootstrapped, or the credentials fail.
_NOT_BOOTSTRAPPED = ("has not been bootstrapped", "/cdk-bootstrap/", "Is this account bootstrapped")
_CREDENTIALS = ("ExpiredToken", "Unable to resolve AWS account", "Could not load credentials",
                "InvalidClientTokenId", "security token included in the request is")  # fmt: skip


def _cli_failure(tool: str, args: Sequence[str], output: str) -> str:
    """Why the CDK CLI failed, in a sentence when it is a known cause; with its output's tail."""
    tail = "\n".join(output.rstrip().splitlines()[-40:])
    command = f"{tool} {' '.join(args[:2])}"
    if any(sign in output for sign in _NOT_BOOTSTRAPPED):
        return f"{command} failed: {not_bootstrapped_message()}\n{tail}"
    if any(sign in output for sign in _CREDENTIALS):
        return (
            f"{command} failed: the CDK CLI could not use your AWS credentials (missing, "
            "expired or refused). Sign in again (`aws sso login`, or new keys), check with "
            f"`aws sts get-caller-identity`, then run the command again.\n{tail}"
        )
    return f"{command} failed:\n{tail}"


def not_bootstrapped_message(account: str = "ACCOUNT", region: str = "REGION") -> str:
    return (
        f"the account {account} is not bootstrapped for the CDK in {region} (no CDKToolkit "
        "stack): the CDK needs its staging bucket and deploy roles there. Run, once per account "
        f"and region: `cd infra && ../node_modules/.bin/cdk bootstrap aws://{account}/{region}` "
        "(docs/deploying.md, Prerequisites)"
    )


def stack_name(variant: str = variants.DEFAULT_VARIANT, name: str | None = None) -> str:
    """The stack a variant deploys as: `name` when given (checked), else InventoryStack (ours)
    or InventoryBaselineStack."""
    default = variants.stack_name(variant)  # an unknown variant fails here
    if not name:
        return default
    try:
        return variants.check_stack_name(name)
    except ValueError as exc:
        raise DeployError(str(exc)) from exc


def _cloud_assembly(variant: str, name: str | None = None) -> str:
    # Each variant and each emulator synthesizes into its own folder: the CDK CLI locks the
    # folder it reads, so one shared cdk.out would make two deploys at once (ours and the
    # baseline, or two emulators on other ports) refuse to run. A stack under another name
    # (a rehearsal) and AWS get folders of their own too.
    where = f"local-{env.endpoint_port()}" if env.endpoint_configured() else "aws"
    own = f"-{name}" if name and name != variants.stack_name(variant) else ""
    return f"../cdk.out/{where}/{variant}{own}"


@dataclass(frozen=True)
class Deployment:
    """One stack the CDK CLI deploys or destroys, and how, chosen by the configuration:
    with AWS_ENDPOINT_URL set, `cdklocal` and the emulator's contexts and parameters; without
    it, `cdk` and the real ones (the dashboard published, the uploads audited)."""

    variant: str = variants.DEFAULT_VARIANT
    name: str | None = None  # None: the variant's own stack name

    @property
    def stack(self) -> str:
        return stack_name(self.variant, self.name)

    @property
    def local(self) -> bool:
        return env.endpoint_configured()

    @property
    def tool(self) -> str:
        return "cdklocal" if self.local else "cdk"

    @property
    def assembly(self) -> str:
        return _cloud_assembly(self.variant, self.name)

    def contexts(self) -> list[str]:
        found = [f"{variants.CONTEXT_KEY}={self.variant}"]
        if self.stack != variants.stack_name(self.variant):
            found.append(f"{variants.STACK_NAME_CONTEXT_KEY}={self.stack}")
        if self.local:
            found += [
                # Publish and deploy with the CLI's own keys, not through the bootstrap's
                # roles, so the deploy does not depend on MiniStack's role assumption
                # (docs/deploying.md).
                f"{variants.SYNTHESIZER_CONTEXT_KEY}={variants.CLI_CREDENTIALS}",
                # The API's CORS lets the local dashboard server call it (on AWS: the
                # distribution).
                f"{variants.DASHBOARD_ORIGINS_CONTEXT_KEY}={_dashboard_origin()}",
            ]
        return found

    def parameters(self) -> dict[str, str]:
        """The stack parameters: on AWS the page is published and the uploads audited.

        On the emulator neither: MiniStack cannot run CDK's BucketDeployment (its handler calls
        /opt/awscli/aws, and the local executor puts layers on sys.path, not /opt), so the
        page is served by the local server instead (harness/dashboard.py); nor does its
        CloudFormation know AWS::CloudTrail::Trail.
        """
        if self.variant != variants.OURS:
            return {}
        publish = "false" if self.local else "true"
        return {
            variants.PUBLISH_DASHBOARD_PARAMETER: publish,
            variants.AUDIT_UPLOADS_PARAMETER: publish,
        }

    def arguments(self) -> list[str]:
        """What `deploy` and `destroy` both pass: contexts and the cloud assembly folder."""
        found = []
        for context in self.contexts():
            found += ["--context", context]
        return [*found, "--output", self.assembly]


def deploy(
    variant: str = variants.DEFAULT_VARIANT, *, name: str | None = None, echo: Console | None = None
) -> StackOutputs:
    """Deploy one variant with the CDK CLI wherever the SDK is configured to go; its outputs.

    With AWS_ENDPOINT_URL set (the emulator): `cdklocal`, bootstrapping the emulator first, and
    the local parameters and contexts (`Deployment`). Without it: `cdk` with your credentials
    and region, into an account that must already be bootstrapped (`cdk bootstrap`).
    """
    deployment = Deployment(variant, name)
    target = deployment.stack  # an unknown variant or a bad name fails here, before any CLI
    env.use_configured_target()
    started = time.perf_counter()
    sts = env.client("sts")
    account = sts.get_caller_identity()["Account"]
    region = sts.meta.region_name
    if deployment.local:
        _cli("bootstrap", f"aws://{account}/{region}", "--quiet")
    else:
        check_bootstrapped(account, region)
    parameters = []
    for key, value in deployment.parameters().items():
        parameters += ["--parameters", f"{key}={value}"]
    _cli(
        "deploy", target, "--require-approval", "never", "--progress", "events",
        *deployment.arguments(), *parameters,
        tool=deployment.tool, echo=echo,
    )  # fmt: skip
    deployed = outputs(variant, name=target)
    if deployment.local and variant == variants.OURS:
        _apply_api_cors(target, deployment.assembly)
    print(f"Deployed {target} to {_where()} in {time.perf_counter() - started:.1f} s")
    return deployed


def deploy_local(variant: str = variants.DEFAULT_VARIANT) -> StackOutputs:
    """cdklocal bootstrap + deploy one variant to the emulator at AWS_ENDPOINT_URL; its outputs."""
    stack_name(variant)  # an unknown variant fails here, before the environment is touched
    env.use_emulator_defaults()
    return deploy(variant)


def check_bootstrapped(account: str, region: str) -> None:
    """DeployError saying to run `cdk bootstrap` when the account has no CDKToolkit stack."""
    try:
        env.client("cloudformation").describe_stacks(StackName=BOOTSTRAP_STACK)
    except ClientError as exc:
        if "does not exist" in str(exc):
            raise DeployError(not_bootstrapped_message(account, region)) from exc
        raise


def destroy(variant: str = variants.DEFAULT_VARIANT, *, name: str | None = None,
            echo: Console | None = None) -> None:  # fmt: skip
    """`cdk destroy` (or `cdklocal destroy` with an endpoint) of one stack, without asking."""
    deployment = Deployment(variant, name)
    target = deployment.stack
    env.use_configured_target()
    _cli("destroy", target, "--force", *deployment.arguments(), tool=deployment.tool, echo=echo)


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


def outputs(variant: str = variants.DEFAULT_VARIANT, *, name: str | None = None) -> StackOutputs:
    """A deployed variant's outputs (of the stack `name` if given), from whichever endpoint
    the SDK is pointed at."""
    name = stack_name(variant, name)
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


def status(name: str) -> str | None:
    """The stack's CloudFormation status, or None when there is no such stack (or it is
    deleted: AWS forgets the name, MiniStack may say DELETE_COMPLETE)."""
    try:
        stacks = env.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    found = str(stacks[0]["StackStatus"]) if stacks else "DELETE_COMPLETE"
    return None if found == "DELETE_COMPLETE" else found


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
