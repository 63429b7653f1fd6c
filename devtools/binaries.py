"""Where the PostgreSQL and Redis server binaries are (`./dev setup` installs them)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from devtools.spawn import SETUP_HINT, LocalServiceError

PG_ROOT = Path("/usr/lib/postgresql")
PREFERRED_PG_MAJOR = 15


def find_pg_bin(root: Path = PG_ROOT) -> Path:
    """The directory holding initdb and postgres: Debian's layout first, version 15 preferred.

    PAYSOURCE_PG_BIN overrides the search, for machines laid out differently.
    """
    override = os.environ.get("PAYSOURCE_PG_BIN")
    candidates = [Path(override)] if override else [*_debian_pg_bins(root), *_path_pg_bins()]
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
            return candidate
    raise LocalServiceError(
        f"PostgreSQL server binaries (initdb, postgres) not found in {root}/*/bin, "
        f"PAYSOURCE_PG_BIN or PATH; {SETUP_HINT}"
    )


def _debian_pg_bins(root: Path) -> list[Path]:
    def rank(bin_dir: Path) -> tuple[bool, int]:
        major_text = bin_dir.parent.name.split(".")[0]
        major = int(major_text) if major_text.isdigit() else 0
        return major != PREFERRED_PG_MAJOR, -major

    return sorted(root.glob("*/bin"), key=rank)


def _path_pg_bins() -> list[Path]:
    initdb = shutil.which("initdb")
    return [Path(initdb).resolve().parent] if initdb else []


def find_redis_server() -> Path:
    """The redis-server binary, from PAYSOURCE_REDIS_SERVER or PATH."""
    found = os.environ.get("PAYSOURCE_REDIS_SERVER") or shutil.which("redis-server")
    if not found or not Path(found).is_file():
        raise LocalServiceError(f"redis-server not found on PATH; {SETUP_HINT}")
    return Path(found)
