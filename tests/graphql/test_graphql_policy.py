"""policy.py decides alone who sees which rows and which details of them."""

from __future__ import annotations

from uuid import uuid4

import pytest

from paysource.application.auth import Principal
from paysource.domain.api_key import Role
from paysource.entrypoints.http.graphql.policy import Access, Detail, shown

MERCHANT = uuid4()
SIDES = {
    "merchant key or token": Access(Principal(Role.MERCHANT, MERCHANT, uuid4())),
    "finance": Access(Principal(Role.FINANCE, None, uuid4())),
    "auditor": Access(Principal(Role.AUDITOR, None, uuid4())),
    "admin": Access(Principal(Role.ADMIN)),
}
SHOPPER = Access(Principal(Role.MERCHANT, MERCHANT, uuid4()), customer_id=uuid4())


@pytest.mark.parametrize("detail", list(Detail))
def test_a_customer_token_is_shown_no_detail_of_the_merchants_business(detail: Detail) -> None:
    assert not SHOPPER.shows(detail)
    assert shown(SHOPPER, detail, "value") is None
    for side, access in SIDES.items():
        assert access.shows(detail), side
        assert shown(access, detail, "value") == "value"
