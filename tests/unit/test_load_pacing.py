"""Each locust user's first upload waits for its slot, as every later one does.

Run in a child process: importing locust monkey-patches the process that imports it.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.unit

FIRST_UPLOADS = textwrap.dedent(
    """
    import json
    from loadtests import users
    from loadtests.shapes import PACER

    PACER.rate = 20.0  # files/s
    slept = []
    users.gevent.sleep = slept.append
    for user in [object.__new__(users.StoreUploader) for _ in range(3)]:
        user.on_start()  # what locust runs before a user's first task
    print(json.dumps(slept))
    """
)


def test_the_first_uploads_of_new_users_are_spaced_by_the_pacer() -> None:
    # Given a pacer at 20 files/s, when three users start
    result = subprocess.run(
        [sys.executable, "-c", FIRST_UPLOADS], capture_output=True, text=True, check=True
    )
    slept = json.loads(result.stdout.splitlines()[-1])

    # Then their first uploads are 50 ms apart, not all at once
    assert slept[0] == pytest.approx(0.0, abs=0.01)
    gaps = [b - a for a, b in itertools.pairwise(slept)]
    assert gaps == pytest.approx([0.05, 0.05], abs=0.01)
