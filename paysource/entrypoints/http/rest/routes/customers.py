"""Customers of a merchant: create, read, update, erase (personal data destroyed).

Customer answers hold personal data, so they never go to the Redis fast path's answer
cache (`keep_body=False`): erasure could not reach a copy there.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from paysource.application import representations as rep
from paysource.application.customers import ProfileChanges
from paysource.application.fastpath import Answer
from paysource.application.idempotency import fingerprint
from paysource.application.ids import Kind, decode
from paysource.domain.customer import Customer
from paysource.entrypoints.http.inputs import CustomerIn, CustomerUpdateIn
from paysource.entrypoints.http.rest.deps import AnyCall, MerchantCallDep
from paysource.entrypoints.http.rest.lists import ListedWithMetadata
from paysource.entrypoints.http.rest.moments import AsOf, loader
from paysource.entrypoints.http.rest.routes.common import listing, owned, reader, respond
from paysource.entrypoints.http.rest.schemas import CustomerList, CustomerOut

router = APIRouter(prefix="/v1", tags=["customers"])


@router.post("/customers", status_code=201, response_model=CustomerOut, summary="Create a customer")
def create_customer(body: CustomerIn, call: MerchantCallDep) -> JSONResponse:
    request_hash = fingerprint("POST", "/v1/customers", body.fingerprint_body())

    def command() -> Answer:
        outcome = call.cell.customers.create_customer(
            merchant_id=call.merchant_id,
            name=body.name,
            email=body.email,
            metadata=dict(body.metadata),
            idempotency_key=call.context.idempotency_key,
            request_hash=request_hash,
            meta=call.meta,
        )
        return Answer(201, rep.customer(outcome.value), outcome.replayed)

    return respond(call.answer(request_hash, command, keep_body=False))


@router.get("/customers/{customer_id}", response_model=CustomerOut, summary="Get a customer")
def get_customer(customer_id: str, call: AnyCall, as_of: AsOf = None) -> JSONResponse:
    uuid = decode(Kind.CUSTOMER, customer_id)
    customer = owned(
        call,
        "customer",
        uuid,
        loader(
            as_of,
            Customer,
            lambda cell, uuid: cell.customers.get_customer(merchant_id=None, customer_id=uuid),
        ),
    )
    return respond(Answer(200, rep.customer(customer)))


@router.get("/customers", response_model=CustomerList, summary="List customers, newest first")
def list_customers(call: AnyCall, params: ListedWithMetadata) -> JSONResponse:
    """From the `directory` read model (eventually consistent, usually within ms): a
    merchant's own customers; staff roles see every merchant's."""
    read = reader(call, call.principal.merchant_id)
    page = read.customers(params.window(read, Kind.CUSTOMER, "customer"))
    rows = [rep.customer_row(row) for row in page.rows]
    return respond(Answer(200, listing(rows, has_more=page.has_more)))


@router.post(
    "/customers/{customer_id}",
    response_model=CustomerOut,
    summary="Update a customer",
    description='Changes only the fields sent (`"email": null` removes the e-mail, a '
    'metadata value of "" removes its key). Refused (409 `customer_erased`) once erased.',
)
def update_customer(
    customer_id: str, body: CustomerUpdateIn, call: MerchantCallDep
) -> JSONResponse:
    uuid = decode(Kind.CUSTOMER, customer_id)
    request_hash = fingerprint("POST", f"/v1/customers/{uuid}", body.fingerprint_body())
    changes = ProfileChanges(
        name=body.name,
        email=body.email,
        clear_email="email" in body.model_fields_set and body.email is None,
        metadata=dict(body.metadata),
    )

    def command() -> Answer:
        outcome = call.cell.customers.update_customer(
            merchant_id=call.merchant_id,
            customer_id=uuid,
            changes=changes,
            idempotency_key=call.context.idempotency_key,
            request_hash=request_hash,
            meta=call.meta,
        )
        return Answer(200, rep.customer(outcome.value), outcome.replayed)

    return respond(call.answer(request_hash, command, keep_body=False))


@router.delete(
    "/customers/{customer_id}",
    response_model=CustomerOut,
    summary="Erase a customer's personal data",
    description="Destroys the customer's data key: its name, e-mail and `personal.` "
    "metadata read `[erased]` everywhere from now on, in every past event too. Payments "
    "and their amounts stay. Idempotent: erasing again answers the same.",
)
def erase_customer(customer_id: str, call: MerchantCallDep) -> JSONResponse:
    uuid = decode(Kind.CUSTOMER, customer_id)
    erased = call.cell.customers.erase_customer(
        merchant_id=call.merchant_id, customer_id=uuid, meta=call.meta
    )
    return respond(Answer(200, rep.customer(erased)))
