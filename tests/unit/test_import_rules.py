"""The domain imports only the standard library, `eventsourcing.domain` and itself.

That keeps every rule testable without a database, a web framework or Redis. The
check reads the source (AST), so an import inside a function or under
`if TYPE_CHECKING:` counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import paysource.domain

DOMAIN = "paysource.domain"
DOMAIN_DIR = Path(paysource.domain.__file__).parent
ALLOWED_PACKAGES = ("eventsourcing.domain", DOMAIN)


def module_name(path: Path) -> str:
    parts = path.relative_to(DOMAIN_DIR).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((DOMAIN, *parts))


def imported_modules(source: str, module: str, *, is_package: bool) -> Iterator[tuple[int, str]]:
    """Yield (line, absolute dotted name) for every name imported in `source`.

    `from a import b` yields `a.b`, so `from eventsourcing import domain` is judged as
    `eventsourcing.domain` and `from .. import api` as `paysource.entrypoints.http.rest`.
    """
    package = (module if is_package else module.rpartition(".")[0]).split(".")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            prefix = ".".join([*base, *([node.module] if node.module else [])])
            yield from ((node.lineno, f"{prefix}.{alias.name}") for alias in node.names)


def is_allowed(name: str) -> bool:
    if name.partition(".")[0] in sys.stdlib_module_names:
        return True
    return any(name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED_PACKAGES)


def forbidden_imports(source: str, module: str, *, is_package: bool = False) -> list[str]:
    return [
        f"{module}:{line} imports {name}"
        for line, name in imported_modules(source, module, is_package=is_package)
        if not is_allowed(name)
    ]


def domain_modules() -> list[Path]:
    return sorted(DOMAIN_DIR.rglob("*.py"))


def test_the_walk_sees_every_module_of_the_domain() -> None:
    names = {module_name(path) for path in domain_modules()}

    assert {"paysource.domain", "paysource.domain.payment", "paysource.domain.money"} <= names


def test_the_domain_imports_only_the_standard_library_and_eventsourcing_domain() -> None:
    problems = [
        problem
        for path in domain_modules()
        for problem in forbidden_imports(
            path.read_text(encoding="utf-8"),
            module_name(path),
            is_package=path.name == "__init__.py",
        )
    ]

    assert problems == []


@pytest.mark.parametrize(
    "source",
    [
        "import psycopg",
        "import fastapi.routing",
        "from eventsourcing.application import Application",
        "from eventsourcing import application",
        "from eventsourcing import *",
        "from paysource.application import services",
        "from paysource import settings",
        "from .. import api",
        "from ..adapters.store import Store",
        "def f():\n    import redis\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pydantic\n",
    ],
)
def test_the_check_reports_an_import_from_outside_the_allowed_set(source: str) -> None:
    assert forbidden_imports(source, "paysource.domain.payment") != []


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations",
        "import xml.etree.ElementTree",
        "from importlib import metadata",
        "from eventsourcing.domain import Aggregate",
        "from eventsourcing import domain",
        "from paysource.domain.money import Money",
        "from paysource import domain",
        "from .. import domain",
        "from . import money",
        "from .errors import DomainError",
    ],
)
def test_the_check_allows_the_standard_library_eventsourcing_domain_and_the_domain(
    source: str,
) -> None:
    assert forbidden_imports(source, "paysource.domain.payment") == []
