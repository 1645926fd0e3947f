"""`inventory user add`: users made with admin calls, clear errors, nothing half-made."""

from __future__ import annotations

import string
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.users import Credentials, UserError, add_user, check_email, generate_password

pytestmark = pytest.mark.unit
POOL = "us-east-1_test"


def _error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "op")


class FakeCognito:
    """The admin calls `add_user` makes, against a dict of users, with Cognito's errors."""

    def __init__(self, min_length: int = 12) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.min_length = min_length

    def admin_create_user(self, UserPoolId: str, Username: str, **kwargs: Any) -> None:
        assert UserPoolId == POOL
        assert kwargs["MessageAction"] == "SUPPRESS"  # no invitation mail
        if Username in self.users:
            raise _error("UsernameExistsException", "User account already exists")
        attributes = {a["Name"]: a["Value"] for a in kwargs["UserAttributes"]}
        self.users[Username] = {"attributes": attributes, "password": None}

    def admin_set_user_password(
        self, UserPoolId: str, Username: str, Password: str, Permanent: bool
    ) -> None:
        assert Permanent
        if len(Password) < self.min_length:
            raise _error("InvalidPasswordException", "Password did not conform with policy")
        self.users[Username]["password"] = Password

    def admin_delete_user(self, UserPoolId: str, Username: str) -> None:
        del self.users[Username]


def test_a_new_user_gets_a_verified_email_and_a_generated_permanent_password() -> None:
    cognito = FakeCognito()

    found = add_user(cognito, POOL, "  ana@example.com ")

    assert found == Credentials("ana@example.com", found.password, created=True)
    stored = cognito.users["ana@example.com"]
    assert stored["password"] == found.password
    assert stored["attributes"] == {"email": "ana@example.com", "email_verified": "true"}


def test_generated_passwords_meet_the_pool_policy_and_differ() -> None:
    passwords = {generate_password() for _ in range(50)}

    assert len(passwords) == 50
    for password in passwords:
        assert len(password) >= 12
        for cls in (string.ascii_lowercase, string.ascii_uppercase, string.digits):
            assert any(c in cls for c in password)
        assert any(not c.isalnum() for c in password)


def test_an_existing_user_is_an_error_unless_reset() -> None:
    cognito = FakeCognito()
    add_user(cognito, POOL, "ana@example.com", "First-password-1")

    with pytest.raises(UserError, match=r"already exists.*--reset"):
        add_user(cognito, POOL, "ana@example.com")
    assert cognito.users["ana@example.com"]["password"] == "First-password-1"

    found = add_user(cognito, POOL, "ana@example.com", "Second-password-2", reset=True)
    assert not found.created
    assert cognito.users["ana@example.com"]["password"] == "Second-password-2"


def test_a_refused_password_says_the_policy_and_leaves_no_user_behind() -> None:
    cognito = FakeCognito()

    with pytest.raises(UserError, match="12 or more characters"):
        add_user(cognito, POOL, "ana@example.com", "short")

    assert cognito.users == {}


@pytest.mark.parametrize("bad", ["", "ana", "ana@", "@example.com", "a b@example.com"])
def test_a_malformed_email_is_refused_before_any_call(bad: str) -> None:
    with pytest.raises(UserError, match="not an email address"):
        check_email(bad)
