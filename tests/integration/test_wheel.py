"""The built wheel carries the SQL migrations: installed from it (not from this source
tree), `paysource migrate` sets up an empty database."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import psycopg
import pytest

from devtools.localservices import LocalPostgres, free_port
from paysource.config import MIGRATIONS_DIR, PROJECT_ROOT
from tests.conftest import TEST_ENVIRONMENT

SHIPPED = ("pyproject.toml", "README.md", "paysource", "devtools")


def run(
    *argv: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in argv],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
        cwd=cwd,
    )


def build_wheel(into: Path) -> Path:
    # A copy of the source, so building leaves no build/ or egg-info in the work tree.
    source = into / "source"
    source.mkdir()
    for name in SHIPPED:
        origin = PROJECT_ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(origin, source / name)
    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "-q", "-w", into / "dist", source,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = (into / "dist").glob("paysource-*.whl")
    return wheel


def install(wheel: Path, venv: Path) -> Path:
    """A throwaway venv with only the wheel's paysource; dependencies come from ours."""
    created = run(sys.executable, "-m", "venv", "--without-pip", venv)
    assert created.returncode == 0, created.stderr
    [venv_site] = venv.glob("lib/python*/site-packages")
    # A path line in a .pth file does not run that directory's own .pth files, so the
    # editable paysource of our venv stays out: only its dependencies are seen.
    (venv_site / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    installed = run(
        sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install",
        "--no-deps", "--no-index", "-q", wheel,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    return venv / "bin"


@pytest.fixture
def empty_database(postgres: LocalPostgres) -> str:
    name = f"wheel_{free_port()}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres.url.rsplit("/", 1)[0] + f"/{name}"


def test_an_installed_wheel_migrates_an_empty_database(tmp_path: Path, empty_database: str) -> None:
    wheel = build_wheel(tmp_path)
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".sql")}
    assert shipped == {f"paysource/migrations/{p.name}" for p in MIGRATIONS_DIR.glob("*.sql")}
    bin_dir = install(wheel, tmp_path / "venv")

    where = run(
        bin_dir / "python", "-c", "import paysource; print(paysource.__file__)", cwd=tmp_path
    )
    assert where.stdout.startswith(str(tmp_path / "venv")), where.stdout + where.stderr
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAYSOURCE_")},
        **TEST_ENVIRONMENT,
        "PAYSOURCE_DATABASE_URL": empty_database,
    }
    migrated = run(bin_dir / "paysource", "migrate", env=env, cwd=tmp_path)

    assert migrated.returncode == 0, migrated.stderr
    assert f"migrations: {len(shipped)} applied" in migrated.stdout
