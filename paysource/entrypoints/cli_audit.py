"""`paysource audit`: check the tamper-evident log, keep a signed tree head (docs/audit.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from paysource.audit_verifier import TreeHead
from paysource.config import Settings
from paysource.entrypoints.cli_operations import _container
from paysource.entrypoints.cli_params import with_settings


@click.group()
def audit() -> None:
    """Check the tamper-evident log; export its signed tree head."""


@audit.command("verify")
@click.option(
    "--tree-head",
    "tree_head",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Check this exported head (JSON) against the live log instead.",
)
@with_settings
def audit_verify(settings: Settings, tree_head: Path | None) -> int:
    """Recompute every leaf and signed root from the event table; exit 1 naming the
    first event that does not match.

    \b
    Examples:
      paysource audit verify
      paysource audit verify --tree-head head-2026-11-30.json
    """
    from paysource.processes.audit_verify import (  # noqa: PLC0415
        verify_exported_head,
        verify_log,
    )

    head = _read_head(tree_head) if tree_head else None
    problems: list[str] = []
    with _container(settings) as container:
        for cell in container.router.all():
            key = cell.audit.signer.public_key
            if head is not None:
                problems += verify_exported_head(cell.audit_log, head, key)
                continue
            found = verify_log(cell.audit_log, key)
            problems += [f"{cell.name}: {problem}" for problem in found.problems]
            click.echo(
                f"{cell.name}: {found.leaves} leaves and {found.heads} signed heads checked,"
                f" {found.unaudited} events not in the tree yet"
            )
    for problem in problems:
        click.echo(problem, err=True)
    if not problems:
        click.echo("ok: the log matches every leaf and signed tree head")
    return 1 if problems else 0


def _read_head(path: Path) -> TreeHead:
    try:
        return TreeHead.from_json(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as error:  # JSONDecodeError included
        raise click.BadParameter(str(error), param_hint="--tree-head") from None


@audit.command("export-head")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_settings
def audit_export_head(settings: Settings, file: Path) -> None:
    """Write the latest signed tree head to FILE (JSON), to check on a later visit.

    \b
    Example:
      paysource audit export-head head-2026-11-30.json
    """
    with _container(settings) as container:
        head = container.router.directory.audit.store.head(None)
    if head is None:
        raise click.ClickException("no tree head is signed yet; is a worker running?")
    try:
        file.write_text(json.dumps(head.to_json(), indent=2) + "\n", encoding="utf-8")
    except OSError as error:  # a missing directory, no permission, a full disk
        raise click.ClickException(f"cannot write {file}: {error.strerror}") from None
    click.echo(f"tree head of size {head.tree_size} written to {file}")


COMMANDS = (audit,)
