"""Limits and error policy, on by default; development relaxes only what helps people.

Fragment spreads, nesting, depth, aliases and tokens are checked before anything
executes (at parse time, then before validation), so an abusive document costs no
resolver and no SQL. The shape limits are measured without recursion (shape.py)
before any rule walks the document: a chain or cycle of fragment spreads is refused,
it cannot overflow the stack. Batching is off (the schema has no batching config).
Outside development: no introspection, no field suggestions, and bugs reach clients
as a masked message only, whether they happen while parsing, validating or
resolving; they are logged with a traceback.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from functools import lru_cache

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
)
from graphql import GraphQLSchema as Schema
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.schema import validate_document

from paysource.adapters.postgres.datastore import DATABASE_DOWN
from paysource.entrypoints.http.graphql.coercion import named_values
from paysource.entrypoints.http.graphql.cost import MAX_COST, cost
from paysource.entrypoints.http.graphql.names import OperationNamed, unquoted
from paysource.entrypoints.http.graphql.shape import MAX_NESTING, shape_of

log = logging.getLogger(__name__)

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5_000
# Fragment spreads written in one document: a screen built of fragments has a few
# dozen. The chain that overflowed the stack had 234.
MAX_FRAGMENT_SPREADS = 100
# Distinct documents kept parsed and validated; bounded, so unique documents sent by
# a client cannot grow memory without limit.
CACHE_SIZE = 512
MASKED_MESSAGE = "Internal error. It has been logged; quote the request id when you ask."
# One warning line per interval about refused documents, however many arrive.
REFUSAL_LOG_INTERVAL_S = 60.0

_PRODUCTION_RULES: list[type[ASTValidationRule]] = [NoSchemaIntrospectionCustomRule]
_SUGGESTION = re.compile(r"\s*Did you mean .*\?$", re.DOTALL)


class LimitRefusal(GraphQLError):
    """A document refused by a shape limit: logged here, once per interval."""


class RefusalLog:
    """A warning about refused documents, at most one line per `interval_s`: each
    refused document costs us little, and its log line must not cost more."""

    def __init__(self, interval_s: float = REFUSAL_LOG_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._next_at = 0.0
        self._suppressed = 0

    def refused(self, reason: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now < self._next_at:
                self._suppressed += 1
                return
            suppressed, self._suppressed = self._suppressed, 0
            self._next_at = now + self.interval_s
        log.warning(
            "graphql: refused a document: %s (%d more refused since the last such line)",
            reason,
            suppressed,
        )


REFUSALS = RefusalLog()


def shape_errors(document: DocumentNode) -> list[GraphQLError]:
    """The shape limits `document` exceeds; measured without recursion (shape.py)."""
    shape = shape_of(document)
    errors: list[GraphQLError] = []
    if shape.spreads > MAX_FRAGMENT_SPREADS:
        message = f"{shape.spreads} fragment spreads found. Allowed: {MAX_FRAGMENT_SPREADS}"
        extensions = {"code": "too_many_fragment_spreads", "limit": MAX_FRAGMENT_SPREADS}
        errors.append(LimitRefusal(message, extensions=extensions))
    if shape.nesting > MAX_NESTING:
        message = (
            f"Selections and fragment spreads nest {shape.nesting} levels deep. "
            f"Allowed: {MAX_NESTING}"
        )
        extensions = {"code": "query_too_nested", "limit": MAX_NESTING}
        errors.append(LimitRefusal(message, extensions=extensions))
    for name, totals in shape.operations.items():
        if totals.depth > MAX_DEPTH:  # strawberry's message, which clients may know
            message = f"'{name}' exceeds maximum operation depth of {MAX_DEPTH}"
            extensions = {"code": "query_too_deep", "limit": MAX_DEPTH}
            errors.append(LimitRefusal(message, extensions=extensions))
    aliases = sum(totals.aliases for totals in shape.operations.values())
    if aliases > MAX_ALIASES:
        message = f"{aliases} aliases found. Allowed: {MAX_ALIASES}"
        extensions = {"code": "too_many_aliases", "limit": MAX_ALIASES}
        errors.append(LimitRefusal(message, extensions=extensions))
    if errors:
        REFUSALS.refused(errors[0].message)
    return errors


def is_database_down(error: GraphQLError) -> bool:
    return isinstance(error.original_error, DATABASE_DOWN)


def is_bug(error: GraphQLError) -> bool:
    """An exception from a resolver that is not a GraphQLError (nor an outage): a bug."""
    original = error.original_error
    return (
        error.path is not None
        and original is not None
        and not isinstance(original, GraphQLError)
        and not is_database_down(error)
    )


UNAVAILABLE_MESSAGE = "The database is unavailable; retry shortly."


class ShapeErrors(MaskErrors):
    """A database outage becomes a retryable `service_unavailable` error (never the
    driver's message); outside development, bugs become MASKED_MESSAGE."""

    def __init__(self, *, development: bool) -> None:
        super().__init__(should_mask_error=self._replaced, error_message=MASKED_MESSAGE)
        self.development = development

    def _replaced(self, error: GraphQLError) -> bool:
        return is_database_down(error) or (not self.development and is_bug(error))

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if not is_database_down(error):
            return super().anonymise_error(error)
        container = getattr(self.execution_context.context, "container", None)
        if container is not None and container.gate is not None:
            container.gate.report()
        return GraphQLError(
            UNAVAILABLE_MESSAGE,
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "service_unavailable", "retryAfterSeconds": 2},
        )


def _bug(stage: str, error: Exception, *, development: bool) -> GraphQLError:
    """A failure of ours while parsing or validating, logged; masked outside development."""
    log.error("graphql: %s failed: %r", stage, error, exc_info=error)
    message = str(error) if development else MASKED_MESSAGE
    return GraphQLError(message, extensions={"code": "internal_error"})


class Parse(ParserCache):
    """The parser cache; an exception that is not a GraphQLError (a bug: syntax errors
    are GraphQLErrors) is logged and masked instead of reaching the client as is."""

    def __init__(self, *, development: bool) -> None:
        super().__init__(maxsize=CACHE_SIZE)
        self.development = development

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        except GraphQLError:
            # strawberry parses again within its own error handling: the syntax error
            # becomes a normal pre-execution error on every transport.
            context.graphql_document = None
        except Exception as error:  # noqa: BLE001  # logged with its traceback
            raise _bug("parsing", error, development=self.development) from None
        yield


@lru_cache(maxsize=CACHE_SIZE)
def _validated(
    schema: Schema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
) -> list[GraphQLError]:
    # Cached once unquoted (names.py): the cache holds no name the client made up.
    return unquoted(validate_document(schema, document, rules))


class Validate(ValidationCache):
    """The shape limits (shape_errors, before any rule recurses), the validation
    cache, then what validation rules cannot see (they get neither `operationName`
    nor variables, and cached results are shared by all requests):

    - a document of several operations must say which to run (`operationName`);
      graphql-core would otherwise run the first one;
    - over a websocket, only subscriptions run (each is authenticated and counted
      there; queries and mutations are sent with POST);
    - the operation's cost (cost.py, which needs the variables) is at most MAX_COST.

    A rule that raises (a bug) is logged and masked; the document does not run."""

    def __init__(self, *, development: bool) -> None:
        super().__init__(maxsize=CACHE_SIZE)
        self.cached_validate_document = _validated
        self.development = development

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None  # strawberry validates only what parsed
        try:
            # The shape first: graphql-core's rules recurse through fragments.
            # Literals refused by name, never quoted (coercion.py).
            rules = named_values(context.validation_rules)
            errors = shape_errors(document) or self.cached_validate_document(
                context.schema._schema, document, rules
            )
        except Exception as error:  # noqa: BLE001  # logged with its traceback
            errors = [_bug("validation", error, development=self.development)]
        # Set before strawberry's own validation, which then does not run again.
        context.pre_execution_errors = errors or self._operation_errors()
        yield

    def _operation_errors(self) -> list[GraphQLError]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        # `operation_name` falls back to the first operation's name: ask for what was sent.
        if len(operations) > 1 and getattr(context, "_provided_operation_name", None) is None:
            message = (
                f"The document has {len(operations)} operations: send `operationName` to say "
                "which one to run."
            )
            return [GraphQLError(message, extensions={"code": "operation_name_required"})]
        name = context.operation_name
        named = (o for o in operations if o.name is not None and o.name.value == name)
        chosen = operations[0] if len(operations) == 1 else next(named, None)
        if chosen is None:
            return []  # strawberry has refused an unknown operationName already
        over_websocket = getattr(context.context, "over_websocket", False)
        subscription = chosen.operation is OperationType.SUBSCRIPTION
        if over_websocket != subscription:
            message = (
                "Subscriptions run over a websocket (graphql-transport-ws) at /graphql."
                if subscription
                else f"Only subscriptions run over a websocket: send this "
                f"{chosen.operation.value} with POST /graphql."
            )
            return [GraphQLError(message, extensions={"code": "operation_not_allowed"})]
        found = cost(context.schema._schema, document, chosen, context.variables)
        if found > MAX_COST:
            message = (
                f"The query costs {found:,}, more than the {MAX_COST:,} allowed: ask for "
                "smaller pages (`first`), fewer aliases, or `events`, `items` and `asOf` on "
                "fewer objects."
            )
            extensions = {"code": "query_too_costly", "cost": found, "maxCost": MAX_COST}
            return [GraphQLError(message, extensions=extensions)]
        return []


class HideSuggestions(SchemaExtension):
    """graphql-core's "Did you mean …?" maps a private schema for strangers."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in getattr(result, "errors", None) or ():
            error.message = _SUGGESTION.sub("", error.message)


def extensions(*, development: bool) -> list[Callable[[], SchemaExtension]]:
    """Factories: strawberry builds fresh extensions per request (they hold state)."""
    rules: list[type[ASTValidationRule]] = [] if development else _PRODUCTION_RULES
    found: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: AddValidationRules(rules),
        lambda: Parse(development=development),
        OperationNamed,
        lambda: Validate(development=development),
    ]
    found.append(lambda: ShapeErrors(development=development))
    if not development:
        found.append(HideSuggestions)
    return found
