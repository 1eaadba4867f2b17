"""Apprise's DeprecationWarning about ``imghdr`` (Python 3.11/3.12) never reaches a person.

Each check runs in a new interpreter (Apprise is imported once per process) with every
DeprecationWarning shown, so the absence of the warning means the filter worked, not that some
earlier import swallowed it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO, cli_env

pytestmark = pytest.mark.skipif(
    sys.version_info >= (3, 13), reason="imghdr is gone in 3.13; Apprise shims it without a warning"
)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "always::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=cli_env(),
        timeout=120,
        check=True,
    )


def test_apprise_itself_warns_about_imghdr() -> None:
    """The control: without segsync's filter the warning is there (so the next test can fail).
    Apprise imports its plugins, and with them ``imghdr``, when it is first given a URL."""
    run = _python(
        "import sys, apprise\napprise.Apprise().add('json://127.0.0.1:9/')\n"
        "print('imghdr' in sys.modules)"
    )
    if run.stdout.strip() != "True":
        pytest.skip("this Apprise (the packaging job's lowest, 1.6) does not import imghdr")
    assert "'imghdr' is deprecated" in run.stderr


def test_segsync_imports_apprise_without_that_warning_and_only_that_one() -> None:
    shown = _python(
        "import warnings\n"
        "from segsync.team.notify import import_apprise\n"
        "assert import_apprise().Apprise().add('json://127.0.0.1:9/')\n"
        # the filter ended with the import: the same words from elsewhere still show
        "warnings.warn(\"'imghdr' is deprecated (not from apprise)\", DeprecationWarning)\n"
    ).stderr
    assert "imghdr" in shown and "not from apprise" in shown
    assert "apprise/utils" not in shown, shown
