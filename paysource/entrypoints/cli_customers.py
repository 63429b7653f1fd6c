"""The operator's customer commands: erasing a customer's personal data (GDPR art. 17).

An operator acts for any merchant (a data-protection request may reach the platform
rather than the merchant); `--merchant` makes the command refuse another merchant's
customer, as the API does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

import click

from paysource.config import Settings
from paysource.entrypoints.cli_operations import _container, _write_cell
from paysource.entrypoints.cli_params import with_settings

if TYPE_CHECKING:
    from paysource.bootstrap import Container
    from paysource.domain.meta import Meta


@click.group()
def customers() -> None:
    """Customers' personal data."""


@customers.command("erase")
@click.argument("customer")
@click.option("--merchant", metavar="MER_ID", help="Refuse unless the customer is this merchant's.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (erasure is final).")
@with_settings
def customers_erase(settings: Settings, *, customer: str, merchant: str | None, yes: bool) -> None:
    """Erase CUSTOMER's name, e-mail and personal metadata: destroy its data key.

    Payments, amounts and ids stay; past events keep their (now unreadable) ciphertext.
    Erasing again is harmless.

    \b
    Example:
      paysource customers erase cus_0123456789abcdef0123456789abcdef --yes
    """
    from paysource.application.ids import Kind, decode  # noqa: PLC0415
    from paysource.domain.meta import ActorKind, Meta  # noqa: PLC0415

    customer_id = decode(Kind.CUSTOMER, customer)
    merchant_id = decode(Kind.MERCHANT, merchant) if merchant else None
    if not yes:
        click.confirm(f"Erase {customer}'s personal data for good?", abort=True)
    with _container(settings) as container:
        _erase(container, customer_id, merchant_id, Meta(ActorKind.ADMIN, "cli"))
    click.echo(f"erased {customer}")


def _erase(container: Container, customer_id: UUID, merchant_id: UUID | None, meta: Meta) -> None:
    """Erase the customer in its merchant's cell (as the API's DELETE does); NotFound if
    no cell holds it, MerchantMoving while its merchant is being moved."""
    cell = _write_cell(
        container,
        lambda c: c.customers.get_customer(merchant_id=merchant_id, customer_id=customer_id),
        missing="no such customer",
    )
    cell.customers.erase_customer(merchant_id=merchant_id, customer_id=customer_id, meta=meta)
