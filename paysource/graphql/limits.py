"""Limits and error policy, on by default; development relaxes only what helps people.

Depth, aliases and tokens are checked before anything executes (at parse and
validation time), so an abusive document costs no resolver and no SQL. Batching is
off (the schema has no batching config). Outside development: no introspection,
no field suggestions, and bugs reach clients as a masked message only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5_000
# Distinct documents kept parsed and validated; bounded, so unique documents sent by
# a client cannot grow memory without limit.
CACHE_SIZE = 512
MASKED_MESSAGE = "Internal error. It has been logged; quote the request id when you ask."

# Built once: a limiter builds its rule class on construction, and the validation
# cache keys on the rule classes, so rules made per request would never hit it.
_LIMIT_RULES = [
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
]
_PRODUCTION_RULES = [*_LIMIT_RULES, NoSchemaIntrospectionCustomRule]
_SUGGESTION = re.compile(r"\s*Did you mean .*\?$", re.DOTALL)


def is_bug(error: GraphQLError) -> bool:
    """An exception from a resolver that is not a GraphQLError: a bug, not a bad request."""
    original = error.original_error
    return (
        error.path is not None and original is not None and not isinstance(original, GraphQLError)
    )


class HideSuggestions(SchemaExtension):
    """graphql-core's "Did you mean …?" maps a private schema for strangers."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in getattr(result, "errors", None) or ():
            error.message = _SUGGESTION.sub("", error.message)


def extensions(*, development: bool) -> list[Callable[[], SchemaExtension]]:
    """Factories: strawberry builds fresh extensions per request (they hold state)."""
    rules = _LIMIT_RULES if development else _PRODUCTION_RULES
    found: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: AddValidationRules(rules),
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
    ]
    if not development:
        found += [
            lambda: MaskErrors(should_mask_error=is_bug, error_message=MASKED_MESSAGE),
            HideSuggestions,
        ]
    return found
