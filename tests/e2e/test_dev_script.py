"""`./dev` puts the `paysource` command within reach, and says what it does; the README
says how, and its first screen still has exactly the two set-up commands."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from paysource import __version__
from paysource.config import PROJECT_ROOT
from paysource.entrypoints.serve import cli_name


def dev(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROJECT_ROOT / "dev"), *args],
        capture_output=True,
        text=True,
        timeout=600,  # setup may reinstall when pyproject.toml changed
        check=False,
    )


def test_dev_help_lists_its_commands_and_says_where_paysource_is() -> None:
    result = dev("--help")

    assert result.returncode == 0
    assert "./dev paysource [args...]" in result.stdout
    assert ". .venv/bin/activate" in result.stdout


def test_dev_passes_any_paysource_command_through() -> None:
    result = dev("paysource", "--version")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"paysource, version {__version__}"


def test_the_readme_opens_with_two_commands_and_says_how_to_reach_paysource() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    first_block = re.search(r"```sh\n(.*?)```", readme, re.DOTALL)
    assert first_block is not None

    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert [command for command in commands if command] == ["./dev serve", "./dev test"]
    assert "./dev paysource" in readme
    assert ". .venv/bin/activate" in readme


def test_the_banner_names_a_paysource_the_user_can_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no paysource on it
    monkeypatch.chdir(PROJECT_ROOT)

    assert cli_name() == "./dev paysource"
