"""Refusals of input values that name the variable or argument and the type expected,
never the value.

graphql-core quotes the value it refused ("String cannot represent a non string value:
4111111111111111", "…, found: {…}", "Value 'psk_…' does not exist in … enum"): a card
number or an API key typed in the wrong place would come back in the answer and in our
log. Only the parts of its messages known to name no value are kept (`reason`);
anything else becomes a generic reason. Literals are refused by `NamedValuesRule` (in
place of graphql-core's rule, so the validation cache holds no value either), variables
by `hide_variable_values`, before the refusal is logged. Each refusal has
`extensions.code: invalid_argument`.
"""

from __future__ import annotations

import re
from typing import Any

from graphql import (
    ArgumentNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLSchema,
    ValidationContext,
    ValueNode,
    VariableDefinitionNode,
    VisitorAction,
)
from graphql.language import SKIP
from graphql.pyutils import print_path_list
from graphql.utilities.validate_input_value import validate_input_literal
from graphql.validation import ASTValidationRule, ValuesOfCorrectTypeRule

# A refused value's `extensions.code`, as a negative `first` has: clients branch on it.
INVALID_ARGUMENT = "invalid_argument"


class ValueRefusal(ValueError):
    """A scalar's refusal whose message was written here and quotes no value: kept."""


_TYPE = r"'[^']+'"  # a type as used: its name, maybe wrapped in [ ] and !
# What graphql-core (and strawberry's scalars) say of a refused value, up to the value.
_REASONS = [
    # "String cannot represent a non string value: <value>", "ID cannot represent value: …"
    (re.compile(r"((?:Enum '\w+'|\w+) cannot represent [\w -]*?value):"), r"\1"),
    # strawberry's "Value cannot represent a DateTime: "<value>". …"
    (re.compile(r"(Value cannot represent an? \w+):"), r"\1"),
    (
        re.compile(r"Value '.*' does not exist in ('\w+') enum\.", re.DOTALL),
        r"Value does not exist in \1 enum",
    ),
    (
        re.compile(
            rf"(Expected (?:a )?value of (?:non-null )?type {_TYPE}"
            r" (?:to be provided|not to be None|to be an object|to include required field '\w+'))"
        ),
        r"\1",
    ),
    (re.compile(r"(Expected variable '\$\w+' provided to [^.]*)\."), r"\1"),
    # ", found: <value>." or ", but encountered error '<the scalar's, maybe quoting it>'"
    (re.compile(rf"(Expected value of type {_TYPE})"), r"\1"),
]
# An unknown field's name may be a key or a card number sent as a name: never quoted,
# the type's own fields are said instead (ours; the caller sends this type already).
_UNKNOWN_FIELD = re.compile(r"Expected value of type '(\w+)' not to include unknown field")
_VARIABLE = re.compile(r"(Variable '\$\w+' has invalid (?:default )?value(?: at [\w.\[\]]+)?): ")


def reason(error: GraphQLError, schema: GraphQLSchema) -> str:
    """What was wrong with a value, as `error` said it, without the value."""
    if isinstance(error.original_error, ValueRefusal):
        return str(error.original_error)
    unknown = _UNKNOWN_FIELD.match(error.message)
    if unknown is not None:
        return _unknown_field(schema, unknown[1])
    for pattern, template in _REASONS:
        found = pattern.match(error.message)
        if found is not None:
            return found.expand(template)
    return "not a valid value"


def _unknown_field(schema: GraphQLSchema, type_name: str) -> str:
    refused = f"Expected value of type '{type_name}' not to include an unknown field"
    input_type = schema.get_type(type_name)
    if not isinstance(input_type, GraphQLInputObjectType):  # graphql-core names no other
        return refused
    return f"{refused}; its fields are {', '.join(input_type.fields)}"


def hide_variable_values(errors: list[GraphQLError], schema: GraphQLSchema) -> None:
    """Variables refused by graphql-core (before execution): their messages, without the
    value. The inner error graphql-core wrapped says what was wrong (`reason`)."""
    for error in errors:
        found = _VARIABLE.match(error.message)
        if found is None:
            continue
        inner = error.original_error
        if not isinstance(inner, GraphQLError):  # a default value: it has no inner error
            inner = GraphQLError(error.message[found.end() :])
        error.message = f"{found[1]}: {reason(inner, schema)}."
        error.extensions = {"code": INVALID_ARGUMENT}


class NamedValuesRule(ValuesOfCorrectTypeRule):
    """graphql-core's check of literal values, but its refusals say which argument (or
    variable default) and where in it, as it says them for variables, not the value."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._refused = "A literal has invalid value"  # each is in an argument or a default

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        self._refused = f"Argument '{node.name.value}' has invalid value"

    def enter_variable_definition(self, node: VariableDefinitionNode, *_args: Any) -> None:
        self._refused = f"Variable '${node.variable.name.value}' has invalid default value"

    def is_valid_value_node(
        self, node: ValueNode, input_type: GraphQLInputType | None
    ) -> VisitorAction:
        if input_type:
            refused = self._refused

            def on_error(error: GraphQLError, path: list[str | int]) -> None:
                why = reason(error, self.context.schema)
                message = f"{refused}{print_path_list(path)}: {why}."
                # The inner error kept: hide_variable_values sees every refusal, and
                # finds the same reason again in a variable's refused default.
                self.report_error(
                    GraphQLError(
                        message,
                        error.nodes or node,
                        original_error=error,
                        extensions={"code": INVALID_ARGUMENT},
                    )
                )

            validate_input_literal(
                node, input_type, on_error, None, None, self.context.hide_suggestions
            )
        return SKIP  # the whole value is checked at once, as graphql-core's rule does


def named_values(rules: tuple[type[ASTValidationRule], ...]) -> tuple[type[ASTValidationRule], ...]:
    """`rules`, with NamedValuesRule in place of graphql-core's ValuesOfCorrectTypeRule."""
    return tuple(NamedValuesRule if rule is ValuesOfCorrectTypeRule else rule for rule in rules)
