"""Dispute commands for operators, standing in for the acquirer (docs/disputes.md), and
erasing one dispute's evidence (docs/audit.md, "Erasing personal data")."""

from __future__ import annotations

import json

import click

from paysource.config import Settings
from paysource.entrypoints.cli_operations import _container, _write_cell
from paysource.entrypoints.cli_params import with_settings

REASONS = (
    "fraudulent",
    "product_not_received",
    "product_unacceptable",
    "duplicate",
    "subscription_canceled",
    "credit_not_processed",
    "general",
)


@click.group()
def disputes() -> None:
    """Open and decide disputes (chargebacks), as the acquirer would."""


@disputes.command("open")
@click.argument("payment_id")
@click.option(
    "--amount", type=click.IntRange(min=1), help="Minor units; default: all not refunded."
)
@click.option("--reason", type=click.Choice(REASONS), default="general", show_default=True)
@with_settings
def open_dispute(settings: Settings, payment_id: str, amount: int | None, reason: str) -> None:
    """Open the dispute of a captured payment: its amount and the dispute fee leave the
    merchant's balance at once. One dispute per payment: asking again shows it.

    \b
    Example:
      paysource disputes open pay_… --amount 2000 --reason fraudulent
    """
    from paysource.application import representations as rep  # noqa: PLC0415
    from paysource.application.disputes import SOURCE_ADMIN  # noqa: PLC0415
    from paysource.application.ids import Kind, decode  # noqa: PLC0415
    from paysource.domain.dispute import DisputeReason  # noqa: PLC0415
    from paysource.domain.meta import ActorKind, Meta  # noqa: PLC0415

    uuid = decode(Kind.PAYMENT, payment_id)
    with _container(settings) as container:
        cell = _write_cell(
            container, lambda c: c.payments.get_payment(merchant_id=None, payment_id=uuid)
        )
        outcome = cell.disputes.open_dispute(
            payment_id=uuid,
            amount=amount,
            reason=DisputeReason(reason),
            source=SOURCE_ADMIN,
            idempotency_key=None,
            # The same command again (same amount and reason) shows the same dispute.
            request_hash=f"cli:{amount}:{reason}",
            meta=Meta(ActorKind.ADMIN, "cli"),
        )
    click.echo(json.dumps(rep.dispute(outcome.value), indent=2))


@disputes.command("close")
@click.argument("dispute_id")
@click.option("--outcome", type=click.Choice(["won", "lost"]), required=True)
@with_settings
def close_dispute(settings: Settings, dispute_id: str, outcome: str) -> None:
    """Decide a dispute: won gives the amount and fee back, lost leaves them taken.

    \b
    Example:
      paysource disputes close dp_… --outcome won
    """
    from paysource.application import representations as rep  # noqa: PLC0415
    from paysource.application.ids import Kind, decode  # noqa: PLC0415
    from paysource.domain.meta import ActorKind, Meta  # noqa: PLC0415

    uuid = decode(Kind.DISPUTE, dispute_id)
    with _container(settings) as container:
        cell = _write_cell(container, lambda c: c.disputes.get(merchant_id=None, dispute=uuid))
        decided = cell.disputes.decide(
            dispute=uuid,
            won=outcome == "won",
            outcome_reason="acquirer_decision",
            meta=Meta(ActorKind.ADMIN, "cli"),
        )
    click.echo(json.dumps(rep.dispute(decided.value), indent=2))


@disputes.command("erase-evidence")
@click.argument("dispute_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (erasure is final).")
@with_settings
def erase_evidence(settings: Settings, dispute_id: str, yes: bool) -> None:
    """Erase the personal fields of a dispute's evidence (the customer's name, e-mail,
    messages, tracking number, free text): destroy the dispute's data key.

    For a payment with no customer record (erasing a customer does this for each
    dispute of its payments). Amounts, status and the merchant's own evidence stay;
    later evidence for the dispute may not name the customer. Erasing again is harmless.

    \b
    Example:
      paysource disputes erase-evidence dp_… --yes
    """
    from paysource.application.ids import Kind, decode  # noqa: PLC0415
    from paysource.domain.meta import ActorKind, Meta  # noqa: PLC0415

    uuid = decode(Kind.DISPUTE, dispute_id)
    if not yes:
        click.confirm(f"Erase the personal data in {dispute_id}'s evidence for good?", abort=True)
    with _container(settings) as container:
        cell = _write_cell(container, lambda c: c.disputes.get(merchant_id=None, dispute=uuid))
        cell.disputes.erase_evidence(dispute=uuid, meta=Meta(ActorKind.ADMIN, "cli"))
    click.echo(f"erased the evidence of {dispute_id}")


COMMANDS = (disputes,)
