"""Double-entry bookkeeping: the chart of accounts and the posting rules.

Balances follow TigerBeetle: each account has `debits_pending`, `debits_posted`,
`credits_pending` and `credits_posted`. A line is `pending` (adds to *_pending),
`release` (takes a pending amount away: the hold was posted or voided) or `posted`
(adds to *_posted). Every entry balances — debits equal credits per phase — which
`Entry` checks here and a trigger checks again in SQL. docs/ledger.md explains each
rule with an example.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID


class AccountKind(StrEnum):
    MERCHANT_BALANCE = "merchant_balance"  # liability: what we owe the merchant
    ACQUIRER_RECEIVABLE = "acquirer_receivable"  # asset: what the acquirer owes us
    PLATFORM_FEES = "platform_fees"  # revenue: our fees
    PAYOUTS = "payouts"  # what was paid out to the merchant's bank (credit: paid out)
    SETTLEMENT_CASH = "settlement_cash"  # asset: what the acquirer paid into our bank
    ACQUIRER_FEES = "acquirer_fees"  # expense: what the acquirer charged us
    # Clearing between currencies: what settlements converted (one balance per currency).
    FX_CONVERSION = "fx_conversion"
    # The platform's FX rounding gains (credit) and losses (debit) on conversions.
    FX_GAINS_LOSSES = "fx_gains_losses"


class Side(StrEnum):
    DEBIT = "D"
    CREDIT = "C"


class Phase(StrEnum):
    PENDING = "pending"
    RELEASE = "release"
    POSTED = "posted"


class UnbalancedEntry(ValueError):
    """A posting rule produced an entry whose debits and credits differ: a bug."""


@dataclass(frozen=True, slots=True)
class Account:
    kind: AccountKind
    merchant_id: UUID | None = None

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.merchant_id or 'platform'}"

    @classmethod
    def balance(cls, merchant_id: UUID) -> Account:
        return cls(AccountKind.MERCHANT_BALANCE, merchant_id)

    @classmethod
    def receivable(cls, merchant_id: UUID) -> Account:
        return cls(AccountKind.ACQUIRER_RECEIVABLE, merchant_id)

    @classmethod
    def fees(cls) -> Account:
        return cls(AccountKind.PLATFORM_FEES)

    @classmethod
    def payouts(cls, merchant_id: UUID) -> Account:
        return cls(AccountKind.PAYOUTS, merchant_id)

    @classmethod
    def settlement_cash(cls) -> Account:
        return cls(AccountKind.SETTLEMENT_CASH)

    @classmethod
    def acquirer_fees(cls) -> Account:
        return cls(AccountKind.ACQUIRER_FEES)

    @classmethod
    def fx_conversion(cls) -> Account:
        return cls(AccountKind.FX_CONVERSION)

    @classmethod
    def fx_gains_losses(cls) -> Account:
        return cls(AccountKind.FX_GAINS_LOSSES)


@dataclass(frozen=True, slots=True)
class Line:
    account: Account
    side: Side
    phase: Phase
    amount_minor: int
    # None: the entry's currency. Only a conversion's entry has lines in a second one.
    currency: str | None = None

    def currency_in(self, entry: Entry) -> str:
        return self.currency or entry.currency


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    currency: str
    lines: tuple[Line, ...]

    def __post_init__(self) -> None:
        # Balanced per currency and phase: a conversion balances in each currency. One
        # pass over the lines: an entry is made for every event that moves money, and
        # iterating the Phase enum per currency cost more than the sums.
        net: dict[tuple[str, Phase], int] = {}
        for line in self.lines:
            key = (line.currency or self.currency, line.phase)
            amount = line.amount_minor if line.side is Side.DEBIT else -line.amount_minor
            net[key] = net.get(key, 0) + amount
        for (currency, phase), difference in net.items():
            if difference:
                debits, credits_ = self._sums(currency, phase)
                raise UnbalancedEntry(
                    f"{self.kind}: {currency} {phase} debits {debits} != credits {credits_}"
                )
        if any(line.amount_minor <= 0 for line in self.lines):
            raise UnbalancedEntry(f"{self.kind}: every line moves a positive amount")

    def _sums(self, currency: str, phase: Phase) -> tuple[int, int]:
        lines = [
            line
            for line in self.lines
            if line.phase is phase and line.currency_in(self) == currency
        ]
        debits = sum(line.amount_minor for line in lines if line.side is Side.DEBIT)
        return debits, sum(line.amount_minor for line in lines if line.side is Side.CREDIT)


def transfer(debit: Account, credit: Account, amount_minor: int, phase: Phase) -> list[Line]:
    """Two lines moving `amount_minor` from `credit` to `debit`; none for zero."""
    if amount_minor == 0:
        return []
    return [
        Line(debit, Side.DEBIT, phase, amount_minor),
        Line(credit, Side.CREDIT, phase, amount_minor),
    ]


def signed_transfer(debit: Account, credit: Account, amount_minor: int, phase: Phase) -> list[Line]:
    """`transfer` for a figure that can fall below zero (a rounding difference, items
    converted half-even): a negative amount moves the other way, never a negative line."""
    if amount_minor < 0:
        return transfer(credit, debit, -amount_minor, phase)
    return transfer(debit, credit, amount_minor, phase)


def entry(kind: str, currency: str, *transfers: list[Line]) -> Entry | None:
    lines = tuple(line for lines in transfers for line in lines)
    return Entry(kind, currency, lines) if lines else None


# The posting rules ---------------------------------------------------------------------


def authorization(merchant_id: UUID, currency: str, amount_minor: int) -> Entry | None:
    """A hold: the acquirer will owe us, we will owe the merchant — both pending."""
    receivable, balance = Account.receivable(merchant_id), Account.balance(merchant_id)
    return entry(
        "authorization", currency, transfer(receivable, balance, amount_minor, Phase.PENDING)
    )


def capture(
    merchant_id: UUID, currency: str, *, held_minor: int, captured_minor: int, fee_minor: int
) -> Entry | None:
    """Release the whole hold, post what was captured, and take our fee from the merchant."""
    receivable, balance = Account.receivable(merchant_id), Account.balance(merchant_id)
    return entry(
        "capture",
        currency,
        transfer(receivable, balance, held_minor, Phase.RELEASE),
        transfer(receivable, balance, captured_minor, Phase.POSTED),
        transfer(balance, Account.fees(), fee_minor, Phase.POSTED),
    )


def capture_reversed(
    merchant_id: UUID, currency: str, *, captured_minor: int, fee_minor: int
) -> Entry | None:
    """A capture the acquirer never made, taken back out of the books: the receivable
    and the merchant's balance lose it, and the fee taken on it goes back to the merchant."""
    receivable, balance = Account.receivable(merchant_id), Account.balance(merchant_id)
    return entry(
        "capture_reversed",
        currency,
        transfer(balance, receivable, captured_minor, Phase.POSTED),
        transfer(Account.fees(), balance, fee_minor, Phase.POSTED),
    )


def void(merchant_id: UUID, currency: str, held_minor: int, *, kind: str) -> Entry | None:
    """A hold released without capture (cancel, expiry)."""
    receivable, balance = Account.receivable(merchant_id), Account.balance(merchant_id)
    return entry(kind, currency, transfer(receivable, balance, held_minor, Phase.RELEASE))


def _pending(
    kind: str, currency: str, debit: Account, credit: Account, amount: int
) -> Entry | None:
    """Money on its way from `debit` to `credit`: held, not yet moved."""
    return entry(kind, currency, transfer(debit, credit, amount, Phase.PENDING))


def _posted(kind: str, currency: str, debit: Account, credit: Account, amount: int) -> Entry | None:
    """The pending lines released and the same amount posted: the money has moved."""
    return entry(
        kind,
        currency,
        transfer(debit, credit, amount, Phase.RELEASE),
        transfer(debit, credit, amount, Phase.POSTED),
    )


def _released(
    kind: str, currency: str, debit: Account, credit: Account, amount: int
) -> Entry | None:
    """The pending lines voided: balances as before the hold."""
    return entry(kind, currency, transfer(debit, credit, amount, Phase.RELEASE))


def refund_reserved(merchant_id: UUID, currency: str, amount_minor: int) -> Entry | None:
    """A refund in flight: pending, the other way round."""
    balance, receivable = Account.balance(merchant_id), Account.receivable(merchant_id)
    return _pending("refund_pending", currency, balance, receivable, amount_minor)


def refund_settled(merchant_id: UUID, currency: str, amount_minor: int) -> Entry | None:
    balance, receivable = Account.balance(merchant_id), Account.receivable(merchant_id)
    return _posted("refund", currency, balance, receivable, amount_minor)


def refund_released(merchant_id: UUID, currency: str, amount_minor: int) -> Entry | None:
    balance, receivable = Account.balance(merchant_id), Account.receivable(merchant_id)
    return _released("refund_failed", currency, balance, receivable, amount_minor)


def payout_pending(merchant_id: UUID, currency: str, amount_minor: int) -> Entry | None:
    """A settlement closed: its net leaves the merchant's balance for payouts, pending."""
    balance, payouts = Account.balance(merchant_id), Account.payouts(merchant_id)
    return _pending("payout_pending", currency, balance, payouts, amount_minor)


def payout_paid(merchant_id: UUID, currency: str, amount_minor: int) -> Entry | None:
    balance, payouts = Account.balance(merchant_id), Account.payouts(merchant_id)
    return _posted("payout", currency, balance, payouts, amount_minor)


def payout_failed(merchant_id: UUID, currency: str, amount_minor: int) -> Entry | None:
    """The rail refused the payout: the pending lines are voided, balances as before."""
    balance, payouts = Account.balance(merchant_id), Account.payouts(merchant_id)
    return _released("payout_failed", currency, balance, payouts, amount_minor)


# FX: a settlement paid in the merchant's settlement currency ---------------------------


def _in(currency: str, lines: list[Line]) -> list[Line]:
    return [Line(x.account, x.side, x.phase, x.amount_minor, currency) for x in lines]


def _fx_difference(merchant_id: UUID, difference_minor: int) -> list[Line]:
    """A payout above the items' sum is the platform's loss, below it its gain."""
    balance, gains_losses = Account.balance(merchant_id), Account.fx_gains_losses()
    return signed_transfer(gains_losses, balance, difference_minor, Phase.POSTED)


def fx_converted(
    merchant_id: UUID,
    currency: str,
    payout_currency: str,
    *,
    net_minor: int,
    items_minor: int,
    payout_minor: int,
) -> Entry | None:
    """A closed settlement converted (docs/ledger.md, "FX conversion"): its pending
    payout in `currency` is voided, the net leaves the merchant's balance for
    `fx_conversion` there, `fx_conversion` pays the converted items into the merchant's
    balance in `payout_currency`, the rounding difference goes to `fx_gains_losses`, and
    the payout is pending in `payout_currency`. Each currency balances on its own.
    Debit items can round the items' sum to zero or below under a positive net: the
    merchant's balance then pays `fx_conversion` (docs/ledger.md)."""
    balance, payouts, fx = (
        Account.balance(merchant_id),
        Account.payouts(merchant_id),
        Account.fx_conversion(),
    )
    return entry(
        "fx_conversion",
        currency,
        transfer(balance, payouts, net_minor, Phase.RELEASE),
        transfer(balance, fx, net_minor, Phase.POSTED),
        _in(payout_currency, signed_transfer(fx, balance, items_minor, Phase.POSTED)),
        _in(payout_currency, _fx_difference(merchant_id, payout_minor - items_minor)),
        _in(payout_currency, transfer(balance, payouts, payout_minor, Phase.PENDING)),
    )


def fx_reversed(
    merchant_id: UUID,
    currency: str,
    payout_currency: str,
    *,
    net_minor: int,
    items_minor: int,
    payout_minor: int,
) -> Entry | None:
    """The payout of a converted settlement failed: the conversion's posted lines are
    reversed (the `Failed` entry that follows voids the pending payout), so both
    currencies' balances are as before the settlement."""
    balance, fx = Account.balance(merchant_id), Account.fx_conversion()
    return entry(
        "fx_conversion_reversed",
        currency,
        transfer(fx, balance, net_minor, Phase.POSTED),
        _in(payout_currency, signed_transfer(balance, fx, items_minor, Phase.POSTED)),
        _in(payout_currency, _fx_difference(merchant_id, items_minor - payout_minor)),
    )


# Reconciliation: the acquirer confirms what it moved ---------------------------------


def _acquirer_paid(
    kind: str, merchant_id: UUID, currency: str, gross_minor: int, fee_minor: int
) -> Entry | None:
    """The acquirer paid what it owed us into our bank, less its fee. A fee above the
    amount (a fixed fee on a 5-cent capture) is legitimate: the acquirer kept the whole
    amount and took the rest of its fee from our bank."""
    receivable, cash, fees = (
        Account.receivable(merchant_id),
        Account.settlement_cash(),
        Account.acquirer_fees(),
    )
    kept = min(gross_minor, fee_minor)  # the fee paid out of the amount itself
    return entry(
        kind,
        currency,
        transfer(cash, receivable, gross_minor - kept, Phase.POSTED),
        transfer(fees, receivable, kept, Phase.POSTED),
        transfer(fees, cash, fee_minor - kept, Phase.POSTED),
    )


def _acquirer_took(
    kind: str, merchant_id: UUID, currency: str, gross_minor: int, fee_minor: int
) -> Entry | None:
    """The acquirer took from our bank what we owed it, and its fee."""
    receivable = Account.receivable(merchant_id)
    return entry(
        kind,
        currency,
        transfer(receivable, Account.settlement_cash(), gross_minor, Phase.POSTED),
        transfer(Account.acquirer_fees(), Account.settlement_cash(), fee_minor, Phase.POSTED),
    )


def acquirer_settled(
    merchant_id: UUID, currency: str, gross_minor: int, fee_minor: int
) -> Entry | None:
    """A capture in the acquirer's settlement file: the receivable is paid, into our
    bank less the acquirer's fee (docs/ledger.md, "Clearing")."""
    return _acquirer_paid("acquirer_settled", merchant_id, currency, gross_minor, fee_minor)


def acquirer_refunded(
    merchant_id: UUID, currency: str, gross_minor: int, fee_minor: int
) -> Entry | None:
    """A refund in the acquirer's settlement file: the acquirer took it (and its fee)
    from our bank, and owes us the refund no more."""
    return _acquirer_took("acquirer_refunded", merchant_id, currency, gross_minor, fee_minor)


def acquirer_charged_back(
    merchant_id: UUID, currency: str, gross_minor: int, fee_minor: int
) -> Entry | None:
    """A chargeback in the acquirer's file: it took the disputed amount (which the
    `dispute` entry credited to the receivable) from our bank, and any fee of its own."""
    return _acquirer_took("acquirer_chargeback", merchant_id, currency, gross_minor, fee_minor)


def acquirer_chargeback_reversed(
    merchant_id: UUID, currency: str, gross_minor: int, fee_minor: int
) -> Entry | None:
    """A won dispute in the acquirer's file: it paid the amount (which `dispute_won`
    debited to the receivable again) back into our bank, less any fee."""
    return _acquirer_paid(
        "acquirer_chargeback_reversed", merchant_id, currency, gross_minor, fee_minor
    )


_CLEARING_RULES = {
    "capture": acquirer_settled,
    "refund": acquirer_refunded,
    "dispute": acquirer_charged_back,
    "dispute_won": acquirer_chargeback_reversed,
}


def cleared(
    kind: str, merchant_id: UUID, currency: str, gross_minor: int, fee_minor: int
) -> Entry | None:
    """The entry of a cleared statement line; none for kinds that move no account of
    ours (a bank line confirms a payout the ledger posted when it was paid)."""
    rule = _CLEARING_RULES.get(kind)
    return None if rule is None else rule(merchant_id, currency, gross_minor, fee_minor)


# Disputes: a chargeback takes the money back from the merchant at once ---------------


def dispute_opened(
    merchant_id: UUID, currency: str, amount_minor: int, fee_minor: int
) -> Entry | None:
    """The acquirer takes the disputed amount back (it owes us that much less) and we
    charge our dispute fee: both leave the merchant's balance, posted (docs/ledger.md)."""
    balance = Account.balance(merchant_id)
    return entry(
        "dispute",
        currency,
        transfer(balance, Account.receivable(merchant_id), amount_minor, Phase.POSTED),
        transfer(balance, Account.fees(), fee_minor, Phase.POSTED),
    )


def dispute_won(
    merchant_id: UUID, currency: str, amount_minor: int, fee_minor: int
) -> Entry | None:
    """The dispute was decided for the merchant: the amount and the fee come back."""
    balance = Account.balance(merchant_id)
    return entry(
        "dispute_won",
        currency,
        transfer(Account.receivable(merchant_id), balance, amount_minor, Phase.POSTED),
        transfer(Account.fees(), balance, fee_minor, Phase.POSTED),
    )
