"""Typed settings, read once at cold start: a missing one fails the start, not the first write."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import ModuleType

import pytest

from check_stock.settings import CheckSettings
from inventory import config
from inventory.settings import MissingSettingError, require
from load_inventory.settings import LoadSettings

pytestmark = pytest.mark.unit

LOAD_ENV = {
    config.ENV_TABLE_NAME: "Inventory",
    config.ENV_RECEIPTS_TABLE_NAME: "Receipts",
    config.ENV_STORE_SUMMARIES_TABLE_NAME: "StoreSummaries",
}
CHECK_ENV = {
    config.ENV_TOPIC_ARN: "arn:aws:sns:us-east-1:000000000000:NoStock",
    config.ENV_ALERTS_SENT_TABLE_NAME: "AlertsSent",
}


def test_require_returns_the_value_trimmed() -> None:
    assert require({"NAME": "  value  "}, "NAME") == "value"


@pytest.mark.parametrize("environ", [{}, {"NAME": ""}, {"NAME": "   "}, {"OTHER": "x"}])
def test_require_fails_with_the_setting_name(environ: dict[str, str]) -> None:
    with pytest.raises(MissingSettingError, match="NAME"):
        require(environ, "NAME")


def test_load_settings_from_env() -> None:
    settings = LoadSettings.from_env(LOAD_ENV | {"UNRELATED": "x"})

    assert settings == LoadSettings(
        table_name="Inventory",
        receipts_table_name="Receipts",
        store_summaries_table_name="StoreSummaries",
    )


def test_settings_are_immutable() -> None:
    settings = LoadSettings.from_env(LOAD_ENV)

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.table_name = "Other"  # type: ignore[misc]


@pytest.mark.parametrize("missing", sorted(LOAD_ENV))
def test_load_settings_name_the_missing_variable(missing: str) -> None:
    environ = {k: v for k, v in LOAD_ENV.items() if k != missing}

    with pytest.raises(MissingSettingError, match=missing):
        LoadSettings.from_env(environ)


def test_check_settings_from_env() -> None:
    assert CheckSettings.from_env(CHECK_ENV).topic_arn == CHECK_ENV[config.ENV_TOPIC_ARN]


@pytest.mark.parametrize("environ", [{}, {config.ENV_TOPIC_ARN: " "}])
def test_check_settings_require_the_topic(environ: dict[str, str]) -> None:
    with pytest.raises(MissingSettingError, match=config.ENV_TOPIC_ARN):
        CheckSettings.from_env(environ)


# --- cold start ----------------------------------------------------------------------------


def clear_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*LOAD_ENV, *CHECK_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("missing", sorted(LOAD_ENV))
def test_load_inventory_fails_its_cold_start_without_a_setting(
    missing: str, monkeypatch: pytest.MonkeyPatch, import_fresh: Callable[[str], ModuleType]
) -> None:
    # Given the function's environment lacks one setting
    clear_settings(monkeypatch)
    for name, value in LOAD_ENV.items():
        if name != missing:
            monkeypatch.setenv(name, value)

    # When the handler module is imported (a cold start), Then it fails naming the setting
    with pytest.raises(MissingSettingError, match=missing):
        import_fresh("load_inventory.handler")


def test_check_stock_fails_its_cold_start_without_the_topic(
    monkeypatch: pytest.MonkeyPatch, import_fresh: Callable[[str], ModuleType]
) -> None:
    clear_settings(monkeypatch)

    with pytest.raises(MissingSettingError, match=config.ENV_TOPIC_ARN):
        import_fresh("check_stock.handler")


def test_load_inventory_starts_with_its_settings(
    monkeypatch: pytest.MonkeyPatch, import_fresh: Callable[[str], ModuleType]
) -> None:
    clear_settings(monkeypatch)
    for name, value in LOAD_ENV.items():
        monkeypatch.setenv(name, value)

    handler = import_fresh("load_inventory.handler")

    assert handler.settings == LoadSettings("Inventory", "Receipts", "StoreSummaries")
    assert callable(handler.lambda_handler)
