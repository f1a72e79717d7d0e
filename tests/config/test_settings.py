"""Settings come from the environment through one reader that fails loudly."""

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


SHOW_KEY_AND_DEBUG = "from django.conf import settings; print(settings.SECRET_KEY); print(settings.DEBUG)"


def load_settings(
    tmp_path: Path, code: str = SHOW_KEY_AND_DEBUG, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` on the settings in a fresh interpreter with exactly ``env`` (plus PATH)."""
    environment = {"PATH": os.environ["PATH"], "STATE_DIR": str(tmp_path / "var"), **env}
    return subprocess.run(  # noqa: S603  our own interpreter and code
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_malformed_values_fail_at_start_naming_each_variable(tmp_path: Path) -> None:
    result = load_settings(tmp_path, DEBUG="maybe", PORT="eighty", JWT_ALGORITHM="XS256", LOGIN_RATE="lots")
    assert result.returncode != 0
    for name in ("DEBUG", "PORT", "JWT_ALGORITHM", "LOGIN_RATE"):
        assert name in result.stderr


def test_debug_is_off_unless_asked_for(tmp_path: Path) -> None:
    assert load_settings(tmp_path).stdout.split()[1] == "False"
    assert load_settings(tmp_path, DEBUG="true").stdout.split()[1] == "True"


def test_secret_key_is_generated_once_kept_private_and_reused(tmp_path: Path) -> None:
    first = load_settings(tmp_path)
    second = load_settings(tmp_path)
    assert first.returncode == 0, first.stderr
    key = first.stdout.split()[0]
    assert len(key) >= 50
    assert second.stdout.split()[0] == key
    key_file = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_a_given_secret_key_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    result = load_settings(tmp_path, SECRET_KEY="k" * 60)
    assert result.stdout.split()[0] == "k" * 60
    assert not (tmp_path / "var" / "secret_key").exists()


def test_an_env_file_is_read_and_the_environment_wins_over_it(tmp_path: Path) -> None:
    env_file = tmp_path / "settings.env"
    env_file.write_text("DEBUG=true\nSECRET_KEY=from-file-" + "f" * 50 + "\n")
    from_file = load_settings(tmp_path, ENV_FILE=str(env_file))
    assert from_file.stdout.split() == ["from-file-" + "f" * 50, "True"]
    overridden = load_settings(tmp_path, ENV_FILE=str(env_file), DEBUG="false")
    assert overridden.stdout.split()[1] == "False"


def test_postgresql_runs_on_the_projects_backend_with_prepared_statements_unless_turned_off(
    tmp_path: Path,
) -> None:
    code = (
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(d['ENGINE'], d.get('OPTIONS', {}).get('prepare_threshold'))"
    )
    url = "postgres://postgres@127.0.0.1:5432/test"
    on = load_settings(tmp_path, code, DATABASE_URL=url)
    off = load_settings(tmp_path, code, DATABASE_URL=url, DATABASE_PREPARED_STATEMENTS="false")
    assert on.stdout.split() == ["api.postgresql", "5"], on.stderr
    assert off.stdout.split() == ["api.postgresql", "None"], off.stderr
