"""Run Lambda code in-process with no AWS behind it: an offline environment, cold starts.

`offline_aws` gives boto3 just enough environment to build clients without touching the
network or reading this machine's AWS configuration; `fresh_imports` imports a handler module
as a Lambda cold start would, and forgets it afterwards.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType

import pytest

OFFLINE_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
}
# Where boto3 would otherwise look for this machine's profile, config and credentials.
LOCAL_AWS_CONFIG = ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def set_offline_aws(mp: pytest.MonkeyPatch, **env: str) -> None:
    """Set the offline AWS environment, and any further `env`, through `mp` (undone with it)."""
    for name, value in (OFFLINE_ENV | env).items():
        mp.setenv(name, value)
    for name in LOCAL_AWS_CONFIG:
        mp.delenv(name, raising=False)


@contextmanager
def offline_aws(**env: str) -> Iterator[pytest.MonkeyPatch]:
    """The offline AWS environment (and any further `env`) for the `with` block."""
    with pytest.MonkeyPatch.context() as mp:
        set_offline_aws(mp, **env)
        yield mp


@contextmanager
def fresh_imports(*names: str) -> Iterator[Callable[[str], ModuleType]]:
    """A function that imports a module anew, as a cold start would, for the `with` block.

    The modules `names`, and any other imported through the function, are forgotten when the
    block ends; what `sys.modules` held for them before is put back.
    """
    saved = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    imported = set(names)

    def import_fresh(name: str) -> ModuleType:
        if name not in imported:
            imported.add(name)
            if name in sys.modules:
                saved[name] = sys.modules[name]
        sys.modules.pop(name, None)
        return importlib.import_module(name)

    try:
        yield import_fresh
    finally:
        for name in imported:
            sys.modules.pop(name, None)
        sys.modules.update(saved)
