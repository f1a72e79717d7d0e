"""Our own interpreter and code, run in a fresh process: settings are read once per process."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RunDjango = Callable[..., subprocess.CompletedProcess[str]]


def django_runner(tmp_path: Path) -> RunDjango:
    """Run ``args`` (after the interpreter) in a fresh process with exactly ``env``, plus PATH.

    Settings are read once per process, so a setting's wiring from the environment can only
    be seen in a new one; STATE_DIR is this test's own.
    """

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environment = {
            "PATH": os.environ["PATH"],
            "STATE_DIR": str(tmp_path / "var"),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **env,
        }
        return subprocess.run(  # noqa: S603  our own interpreter and code
            [sys.executable, *args],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run
