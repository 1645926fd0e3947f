"""The dashboard's security headers, written once for CloudFront (AWS) and the local server.

Plain Python (no CDK import): `infra/dashboard.py` turns them into a response headers policy,
and `harness/dashboard.py` sends the same ones when it serves `web/` on the emulator.
"""

from __future__ import annotations

from collections.abc import Iterable

HSTS_MAX_AGE_S = 2 * 365 * 24 * 3600


def content_security_policy(connect_to: Iterable[str]) -> str:
    """The page's CSP: its own scripts and styles only; it may call `connect_to` (origins)."""
    connect = " ".join(["'self'", *connect_to])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {connect}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


# Every header but the CSP, which depends on where the API and the sign-in endpoint live.
STATIC_HEADERS = {
    "Strict-Transport-Security": f"max-age={HSTS_MAX_AGE_S}; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def security_headers(connect_to: Iterable[str]) -> dict[str, str]:
    """All the headers a dashboard response carries."""
    return {"Content-Security-Policy": content_security_policy(connect_to), **STATIC_HEADERS}
