"""Refusals of a document that name what our schema defines, never what the client
wrote in place of it.

graphql-core quotes the name it could not find ("Cannot query field 'sk_live_…' on type
'Viewer'", "Unknown argument '4111…'", "Syntax Error: Expected Name, found Int
'4111…'"): a key or a card number pasted where a name goes would come back in the
answer and in our log. The refusal says where (its `locations`) and what our schema
has there instead. Names the client declares and then uses (operations, variables,
fragments, aliases) are still quoted: they point at the client's own mistake.
`operationName` is not one of them: it travels beside the document, so an unknown
one is a value, refused without quoting it (OperationNamed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError

_NAME = r"[_A-Za-z][_0-9A-Za-z]*"  # a GraphQL name: a token, never a space or quote
# "Did you mean …?" (development only) offers names of the schema: kept.
_SUGGESTION = r"((?: Did you mean .*\?)?)$"
_UNDEFINED = [
    (
        re.compile(rf"Cannot query field '{_NAME}' on type ('{_NAME}')\.{_SUGGESTION}"),
        r"Cannot query a field that type \1 does not define.\2",
    ),
    (
        re.compile(rf"Unknown argument '{_NAME}' on (field|directive) ('@?[\w.]+')\.{_SUGGESTION}"),
        r"Unknown argument on \1 \2.\3",
    ),
    (re.compile(rf"Unknown directive '@{_NAME}'\."), "Unknown directive."),
    (re.compile(rf"Unknown type '{_NAME}'\.{_SUGGESTION}"), r"Unknown type.\1"),
    # The uniqueness rules quote the repeated name, defined or not.
    (
        re.compile(rf"There can be only one (argument|input field) named '{_NAME}'\."),
        r"There can be only one \1 of each name.",
    ),
    # Field merging quotes the fields it compares, and their subfields (nested reasons).
    (
        re.compile(r"Fields '.*' conflict because .*", re.DOTALL),
        "Two fields of one selection have one response name and conflict."
        " Use different aliases on the fields to fetch both if this was intentional.",
    ),
]
# The parser describes the token it did not expect by its kind and its text.
_TOKEN_TEXT = re.compile(r"\b(Name|Int|Float|String|BlockString) '.*'(?=\.$)", re.DOTALL)


def unquoted(errors: list[GraphQLError]) -> list[GraphQLError]:
    """Validation's `errors`, none quoting a name the schema does not define."""
    return [_unquoted(error) for error in errors]


def _unquoted(error: GraphQLError) -> GraphQLError:
    for pattern, template in _UNDEFINED:
        found = pattern.match(error.message)
        if found is not None:
            message = found.expand(template)
            return GraphQLError(message, error.nodes, extensions=error.extensions)
    return error


def hide_token_text(errors: list[GraphQLError]) -> None:
    """Syntax errors (a new one each request, never cached): the unexpected token's
    kind, not its text, which may be a card number (an Int) or a key (a Name)."""
    for error in errors:
        if error.message.startswith("Syntax Error:"):
            error.message = _TOKEN_TEXT.sub(r"\1", error.message)


UNKNOWN_OPERATION = "Unknown operationName: no operation of the document has that name."


class UnknownOperationName(CannotGetOperationTypeError):
    """strawberry's own refusal, raised before strawberry's: so it stays a 400 problem
    over HTTP and a 4400 close over a websocket, with a reason that quotes nothing."""

    def __init__(self) -> None:
        super().__init__(None)

    def as_http_error_reason(self) -> str:
        return UNKNOWN_OPERATION


class OperationNamed(SchemaExtension):
    """Refuses an `operationName` the parsed document does not declare, where
    strawberry would refuse it as `Unknown operation named "<what was sent>"`."""

    def on_parse(self) -> Iterator[None]:
        yield
        context = self.execution_context
        document = context.graphql_document
        name = context.operation_name  # the one sent, else the first operation's
        if document is None or name is None:
            return  # a syntax error, refused already; or nothing was sent
        declared = (
            d.name.value
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode) and d.name is not None
        )
        if name not in declared:
            raise UnknownOperationName
