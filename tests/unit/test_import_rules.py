"""The layers' import rules, read from the source (AST) of every module.

An import inside a function or under `if TYPE_CHECKING:` counts as much as one at the
top of a module: a rule that a lazy import may dodge is no rule.

The rules (docs/architecture.md says why):
- the domain imports only the standard library, `eventsourcing.domain` and itself;
- the application imports no adapter, transport, read model, process or Redis;
- processes and read models import no transport and no adapter;
- REST and GraphQL never import each other;
- only `bootstrap` and `entrypoints` import adapters, and only entrypoints import
  `bootstrap` or other entrypoints.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import paysource

PACKAGE_DIR = Path(paysource.__file__).parent
DOMAIN = "paysource.domain"
ALLOWED_IN_DOMAIN = ("eventsourcing.domain", DOMAIN)
TRANSPORTS = ("paysource.entrypoints", "fastapi", "starlette", "strawberry", "uvicorn")
REST = "paysource.entrypoints.http.rest"
GRAPHQL = "paysource.entrypoints.http.graphql"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(source: str, module: str, *, is_package: bool) -> Iterator[tuple[int, str]]:
    """Yield (line, absolute dotted name) for every name imported in `source`.

    `from a import b` yields `a.b`, so `from eventsourcing import domain` is judged as
    `eventsourcing.domain` and `from .. import adapters` as `paysource.adapters`.
    """
    package = (module if is_package else module.rpartition(".")[0]).split(".")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            prefix = ".".join([*base, *([node.module] if node.module else [])])
            yield from ((node.lineno, f"{prefix}.{alias.name}") for alias in node.names)


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


@dataclass(frozen=True)
class Rule:
    """Modules under `layer` (minus `except_in`) import nothing under `forbid` (but `allow`)."""

    says: str
    layer: tuple[str, ...]
    forbid: tuple[str, ...]
    except_in: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()

    def applies_to(self, module: str) -> bool:
        return within(module, self.layer) and not within(module, self.except_in)

    def breaks(self, imported: str) -> bool:
        return within(imported, self.forbid) and not within(imported, self.allow)


RULES = (
    Rule(
        "the domain imports nothing of ours but the domain",
        layer=(DOMAIN,),
        forbid=("paysource",),
        allow=(DOMAIN,),
    ),
    Rule(
        "the application imports no adapter, transport, read model, process or Redis",
        layer=("paysource.application",),
        forbid=(
            "paysource.adapters",
            "paysource.readmodels",
            "paysource.processes",
            "paysource.bootstrap",
            "redis",
            *TRANSPORTS,
        ),
    ),
    Rule(
        "processes import no transport, adapter or Redis client",
        layer=("paysource.processes",),
        forbid=("paysource.adapters", "paysource.bootstrap", "redis", *TRANSPORTS),
    ),
    Rule(
        "read models import no transport, adapter or process",
        layer=("paysource.readmodels",),
        forbid=("paysource.adapters", "paysource.processes", "paysource.bootstrap", *TRANSPORTS),
    ),
    Rule("REST does not import GraphQL", layer=(REST,), forbid=(GRAPHQL,)),
    Rule("GraphQL does not import REST", layer=(GRAPHQL,), forbid=(REST,)),
    Rule(
        "only bootstrap and entrypoints import adapters",
        layer=("paysource",),
        forbid=("paysource.adapters",),
        except_in=("paysource.bootstrap", "paysource.entrypoints", "paysource.adapters"),
    ),
    Rule(
        "only entrypoints import bootstrap or entrypoints",
        layer=("paysource",),
        forbid=("paysource.bootstrap", "paysource.entrypoints"),
        except_in=("paysource.entrypoints", "paysource.__main__"),
    ),
)
# Modules outside every layer: the shared foundations below all of them.
FOUNDATIONS = (
    "paysource.config",
    "paysource.logs",
    "paysource.webhook_signature",
    "paysource.audit_verifier",
)


def broken_rules(source: str, module: str, *, is_package: bool = False) -> list[str]:
    found = []
    for line, name in imported_modules(source, module, is_package=is_package):
        found += [
            f"{module}:{line} imports {name}: {rule.says}"
            for rule in RULES
            if rule.applies_to(module) and rule.breaks(name)
        ]
    return found


def package_modules() -> list[tuple[Path, str]]:
    return [(path, module_name(path)) for path in sorted(PACKAGE_DIR.rglob("*.py"))]


def test_the_walk_sees_every_layer_of_the_package() -> None:
    names = {name for _, name in package_modules()}

    layers = {name.split(".")[1] for name in names if name.count(".") >= 1}
    assert {
        "domain",
        "application",
        "processes",
        "readmodels",
        "adapters",
        "entrypoints",
        "bootstrap",
    } <= layers
    assert {"paysource.domain.payment", REST, GRAPHQL} <= names


def test_every_module_lives_in_a_layer_or_is_a_named_foundation() -> None:
    layers = ("domain", "application", "processes", "readmodels", "adapters", "entrypoints")
    loose = [
        name
        for _, name in package_modules()
        if name.count(".") == 1
        and name.split(".")[1] not in layers
        and name not in (*FOUNDATIONS, "paysource.bootstrap", "paysource.__main__")
    ]

    assert loose == []


def test_every_module_keeps_the_layer_rules() -> None:
    problems = [
        problem
        for path, name in package_modules()
        for problem in broken_rules(
            path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py"
        )
    ]

    assert problems == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("paysource.domain.payment", "from paysource.application.ports import Clock"),
        ("paysource.domain.payment", "from .. import config"),
        ("paysource.application.payments", "from paysource.adapters.vault import TestCardVault"),
        ("paysource.application.payments", "from ..readmodels.payments import queries"),
        ("paysource.application.payments", "from paysource.processes import pipeline"),
        ("paysource.application.fastpath", "import redis"),
        ("paysource.application.payments", "def f():\n    from fastapi import Request\n"),
        ("paysource.processes.pipeline", "from paysource.entrypoints.http import problems"),
        ("paysource.processes.notifier", "import redis.asyncio"),
        ("paysource.processes.pipeline", "from paysource.adapters.postgres import datastore"),
        ("paysource.readmodels.payments.queries", "import strawberry"),
        ("paysource.readmodels.maintenance", "from paysource.adapters.postgres import datastore"),
        (f"{REST}.routes.payments", f"from {GRAPHQL}.types.payment import Payment"),
        (f"{GRAPHQL}.mutations", f"from {REST}.schemas import PaymentIn"),
        (f"{GRAPHQL}.types.payment", "from ...rest import schemas"),
        ("paysource.config", "from paysource.adapters.redis.cache import RedisCache"),
        ("paysource.readmodels.catalog", "from paysource.bootstrap import Cell"),
        ("paysource.application.auth", "from paysource.entrypoints import cli"),
        (
            "paysource.application.payments",
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from paysource import bootstrap\n",
        ),
    ],
)
def test_the_check_reports_an_import_that_breaks_a_rule(module: str, source: str) -> None:
    assert broken_rules(source, module) != []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("paysource.domain.payment", "from paysource.domain.money import Money"),
        ("paysource.domain.payment", "from . import money"),
        ("paysource.application.payments", "from paysource.domain.payment import Payment"),
        ("paysource.application.payments", "from psycopg import errors"),
        ("paysource.processes.pipeline", "from paysource.application.eventlog import Follower"),
        ("paysource.readmodels.payments.queries", "from paysource.application.ids import encode"),
        (f"{REST}.routes.payments", "from paysource.entrypoints.http import problems"),
        (f"{GRAPHQL}.app", "from paysource.readmodels.payments import queries"),
        (f"{GRAPHQL}.app", "from paysource.adapters.postgres import reads"),
        ("paysource.entrypoints.cli", "from paysource.bootstrap import build_container"),
        ("paysource.bootstrap", "from paysource.adapters.vault import TestCardVault"),
        ("paysource.adapters.bank_sim", "from paysource.adapters.postgres import datastore"),
    ],
)
def test_the_check_allows_what_the_layers_may_import(module: str, source: str) -> None:
    assert broken_rules(source, module) == []


# The domain's stricter rule: nothing from outside but the standard library and
# eventsourcing.domain, so every rule is testable without a database, web or Redis.


def domain_outsiders(source: str, module: str) -> list[str]:
    return [
        f"{module}:{line} imports {name}"
        for line, name in imported_modules(source, module, is_package=False)
        if name.partition(".")[0] not in sys.stdlib_module_names
        and not within(name, ALLOWED_IN_DOMAIN)
    ]


def test_the_domain_imports_only_the_standard_library_and_eventsourcing_domain() -> None:
    problems = [
        problem
        for path, name in package_modules()
        if within(name, (DOMAIN,))
        for problem in domain_outsiders(path.read_text(encoding="utf-8"), name)
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
    assert domain_outsiders(source, "paysource.domain.payment") != []


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
    assert domain_outsiders(source, "paysource.domain.payment") == []
