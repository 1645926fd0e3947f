"""Who the SDK's configuration deploys as, and where; one clear paragraph when it cannot.

`identify` asks STS who the caller is (`GetCallerIdentity` needs no permission) with the SDK's
defaults: your profile or environment and your region on AWS, or the emulator when
AWS_ENDPOINT_URL is set. `explain` turns what botocore raises for missing, expired or refused
credentials (and an emulator that does not answer) into a `CredentialsError` saying what to do,
so no command shows a traceback for them (`harness.cli.main` uses it for every command).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from harness import env

# ClientError codes that mean the credentials themselves are wrong, expired or unusable.
EXPIRED_CODES = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
INVALID_CODES = {
    "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
    "InvalidSignatureException", "AuthFailure", "IncompleteSignature", "InvalidAccessKeyId",
    "MissingAuthenticationToken",
}  # fmt: skip
_FIX = (
    "Sign in again (`aws sso login`, or new keys in your profile or environment), check with "
    "`aws sts get-caller-identity`, then run the command again."
)

NO_REGION = (
    "No AWS region is configured: set AWS_REGION (or AWS_DEFAULT_REGION, or `region` in your "
    "profile) to the region to work in, e.g. AWS_REGION=eu-west-1."
)


class CredentialsError(RuntimeError):
    """The SDK has no usable credentials or region, or its endpoint does not answer."""


@dataclass(frozen=True)
class Identity:
    """The caller and the place a deploy goes to."""

    account: str
    arn: str  # the caller: a user, an assumed role...
    region: str
    endpoint: str | None  # None: AWS itself

    def where(self) -> str:
        return self.endpoint or f"AWS, account {self.account}, region {self.region}"


def identify() -> Identity:
    """The caller's account and ARN and the region, from the SDK's configuration."""
    try:
        sts = env.client("sts")
        found = sts.get_caller_identity()
        region = str(sts.meta.region_name or "")
    except Exception as exc:
        problem = explain(exc)
        if problem is None:
            raise
        raise problem from exc
    if not region or region == "aws-global":  # STS alone answers without a region
        raise CredentialsError(NO_REGION)
    return Identity(
        account=str(found["Account"]),
        arn=str(found["Arn"]),
        region=region,
        endpoint=os.environ.get("AWS_ENDPOINT_URL") or None,
    )


def explain(exc: BaseException) -> CredentialsError | None:
    """A CredentialsError saying what went wrong and what to do, if `exc` is about the
    credentials, the region or an endpoint that does not answer; else None."""
    from botocore import exceptions as botocore

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if isinstance(exc, CredentialsError):
        return exc
    if isinstance(exc, botocore.NoCredentialsError | botocore.PartialCredentialsError):
        return CredentialsError(
            "No AWS credentials were found (botocore: "
            f"{exc}). The command uses the SDK's defaults: set AWS_PROFILE to a configured "
            "profile (`aws configure` or `aws configure sso`), or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), and the region "
            "(AWS_REGION). To rehearse on the emulator instead, set AWS_ENDPOINT_URL to it."
        )
    if isinstance(exc, botocore.NoRegionError):
        return CredentialsError(NO_REGION)
    if isinstance(exc, botocore.ProfileNotFound):
        return CredentialsError(
            f"{exc}: AWS_PROFILE names a profile that is not in ~/.aws/config or "
            "~/.aws/credentials. Set it to one that is (`aws configure list-profiles`)."
        )
    sso = (
        botocore.SSOError,
        botocore.TokenRetrievalError,
        botocore.CredentialRetrievalError,
        botocore.RefreshWithMFAUnsupportedError,
    )
    if isinstance(exc, sso):
        return CredentialsError(
            f"Your AWS credentials could not be obtained or refreshed ({exc}). {_FIX}"
        )
    if isinstance(exc, botocore.EndpointConnectionError | botocore.ConnectTimeoutError):
        if endpoint:
            return CredentialsError(
                f"Nothing answers at {endpoint} (AWS_ENDPOINT_URL). Start the emulator there "
                "(`inventory up` with the same AWS_ENDPOINT_URL), or unset AWS_ENDPOINT_URL "
                "and AWS_ENDPOINT_URL_S3 to work on AWS."
            )
        return CredentialsError(f"AWS could not be reached ({exc}): check the network.")
    if isinstance(exc, botocore.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in EXPIRED_CODES:
            return CredentialsError(f"Your AWS credentials have expired ({code}). {_FIX}")
        if code in INVALID_CODES:
            return CredentialsError(
                f"AWS refused your credentials ({code}: "
                f"{exc.response.get('Error', {}).get('Message', '')}). They are wrong or "
                f"belong to another partition. {_FIX}"
            )
    return None
