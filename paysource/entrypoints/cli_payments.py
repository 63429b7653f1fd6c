"""The operator's payment commands: resolving a capture the acquirer refused.

The same command as `POST /v1/payments/{id}/resolve_relay` (admin): recorded as a
payment event with the reason and the operator (`--operator`, or the login name).
"""

from __future__ import annotations

import json
import os

import click

from paysource.config import Settings
from paysource.entrypoints.cli_operations import _container  # one way to open a container
from paysource.entrypoints.cli_params import with_settings


@click.group()
def payments() -> None:
    """Operate on payments."""


@payments.command("resolve-relay")
@click.argument("payment")
@click.option("--retry", "action", flag_value="retry", help="Ask the acquirer to capture again.")
@click.option(
    "--reverse", "action", flag_value="reverse", help="Take the capture out of the books."
)
@click.option("--reason", required=True, help="Why (kept with the books for good).")
@click.option("--operator", help="Who acts (default: the login name).")
@with_settings
def payments_resolve_relay(
    settings: Settings, *, payment: str, action: str | None, reason: str, operator: str | None
) -> None:
    """Resolve PAYMENT's refused capture: --retry it at the acquirer, or --reverse it.

    A retry the acquirer accepts lifts the settlement hold (the next settlement pays
    it); refused again, the hold stays and the refusal is recorded. A reversal is final:
    the capture and its fee leave the ledger, and if a settlement already paid it out,
    a correction debit goes into the merchant's next settlement. Prints the payment.

    \b
    Examples:
      paysource payments resolve-relay pay_0123456789abcdef0123456789abcdef --retry \\
          --reason "acquirer re-authorized, ticket OPS-42"
      paysource payments resolve-relay pay_0123456789abcdef0123456789abcdef --reverse \\
          --reason "hold lapsed, customer not charged"
    """
    from paysource.application import representations as rep  # noqa: PLC0415
    from paysource.application.idempotency import fingerprint  # noqa: PLC0415
    from paysource.application.ids import Kind, decode  # noqa: PLC0415
    from paysource.application.relay_resolution import Resolution  # noqa: PLC0415
    from paysource.domain.meta import ActorKind, Meta  # noqa: PLC0415
    from paysource.domain.payment import RelayAction  # noqa: PLC0415

    if action is None:
        raise click.UsageError("give --retry or --reverse")
    payment_id = decode(Kind.PAYMENT, payment)
    resolution = Resolution(payment_id, RelayAction(action), reason)
    meta = Meta(ActorKind.ADMIN, f"cli:{operator or os.environ.get('USER') or 'operator'}")
    body = {"action": action, "reason": reason}
    with _container(settings) as container:
        outcome = container.relay_resolution(payment_id).resolve(
            resolution,
            idempotency_key=None,
            request_hash=fingerprint("CLI", f"resolve-relay {payment}", body),
            meta=meta,
        )
    click.echo(json.dumps(rep.payment(outcome.value), indent=2))


COMMANDS = (payments,)
