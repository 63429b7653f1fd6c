"""The schema: Query, Mutation, Subscription, with the limits of limits.py."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from paysource.entrypoints.http.graphql.coercion import hide_variable_values
from paysource.entrypoints.http.graphql.limits import (
    LimitRefusal,
    extensions,
    is_bug,
    is_database_down,
)
from paysource.entrypoints.http.graphql.mutations import Mutation
from paysource.entrypoints.http.graphql.names import hide_token_text
from paysource.entrypoints.http.graphql.query import Query
from paysource.entrypoints.http.graphql.scalars import DATE_TIME, MINOR_UNITS, MinorUnits
from paysource.entrypoints.http.graphql.subscriptions import Subscription
from paysource.entrypoints.http.graphql.types.customer import Customer
from paysource.entrypoints.http.graphql.types.merchant import Merchant
from paysource.entrypoints.http.graphql.types.payment import Payment
from paysource.entrypoints.http.graphql.types.refund import Refund
from paysource.entrypoints.http.graphql.types.settlement import Settlement

log = logging.getLogger(__name__)

SDL_PATH = Path(__file__).resolve().parents[4] / "docs" / "schema.graphql"


class PaysourceSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log bugs with their traceback; a refused document is the client's business.
        Refused variables lose their values first, and syntax errors the text of the
        token refused: neither the log nor the client may see a card number or key sent
        in the wrong variable or in place of a name (coercion.py, names.py)."""
        hide_variable_values(errors, self._schema)
        hide_token_text(errors)
        for error in errors:
            if is_bug(error):
                log.error("graphql: %s", error.message, exc_info=error.original_error)
            elif isinstance(error, LimitRefusal):
                continue  # logged where refused, one line per interval
            elif is_database_down(error):
                log.warning("graphql: database unavailable: %s", error.message)
            else:
                log.debug("graphql: refused: %s", error.message)


def build_schema(*, development: bool) -> strawberry.Schema:
    return PaysourceSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Node implementations are reached only through `node(id)`; list them.
        types=[Payment, Customer, Refund, Merchant, Settlement],
        extensions=extensions(development=development),
        config=StrawberryConfig(
            scalar_map={MinorUnits: MINOR_UNITS, datetime: DATE_TIME},
            disable_field_suggestions=not development,
            batching_config=None,
        ),
    )


def sdl() -> str:
    """The schema in SDL, as exported to docs/schema.graphql."""
    return build_schema(development=False).as_str() + "\n"
