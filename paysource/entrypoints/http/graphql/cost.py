"""Query cost: an upper bound on what a document asks for, checked before it runs.

Depth and alias limits bound a document's shape, not its work: thirty aliases of
`payments(first: 100) { events }` are shallow, yet read the event store 3,000 times.
The cost counts objects: each object a field returns costs 1, times the size of the
list it is in, so nested pages multiply (`first`, capped at MAX_FIRST, default
DEFAULT_FIRST; a plain list counts as its assumed size). Fields that read the event
store cost more, per object they are asked on: `Payment.events`, `Settlement.items`
and `payment(asOf:)`. Aliases are counted like any field, fragments as if inlined,
and every member of a union as if it matched (an upper bound).

The cost depends on the variables (`first: $n`), so it is computed per request, after
validation (whose results are cached per document) and before any resolver runs.
The walk recurses, but only as deep as the document nests (shape.MAX_NESTING, checked
before validation); a deeper document, should one ever get here, costs too much.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
    value_from_ast_untyped,
)

from paysource.entrypoints.http.graphql.pagination import MAX_FIRST
from paysource.entrypoints.http.graphql.shape import MAX_NESTING

MAX_COST = 10_000
# Extra cost of a field, per object it is asked on: each reads the event store.
EXPENSIVE: dict[tuple[str, str], int] = {
    ("Payment", "events"): 50,
    ("Settlement", "items"): 50,
}
# `payment(id:, asOf:)` rebuilds the payment (and its refunds) from events.
AS_OF_COST = 50
# Lists without `first`: how many objects they are assumed to hold. A settlement
# holds up to 10,000 items; most hold far fewer.
LIST_SIZES: dict[tuple[str, str], int] = {
    ("Settlement", "items"): 100,
    ("Viewer", "dailyVolume"): 31,
}
DEFAULT_LIST_SIZE = 5


def cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
) -> int:
    """The cost of running `operation` of `document` with `variables`."""
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    try:
        return _Cost(schema, document, operation, variables or {}).selections(
            root, operation.selection_set
        )
    except _TooNested:
        return MAX_COST + 1


class _TooNested(Exception):
    """Raised past MAX_NESTING nested selection sets: the walk stays far from the
    interpreter's recursion limit whoever calls it."""


class _Cost:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variables = dict(variables)
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and definition.default_value is not None:
                self.variables[name] = value_from_ast_untyped(definition.default_value)
        # A fragment costs the same wherever it is spread: computed once (a document
        # spreading fragments into fragments costs linear time, not exponential).
        self.known: dict[str, int] = {}
        self.open: set[str] = set()
        self.level = 0

    def selections(self, parent: GraphQLNamedType, selection_set: SelectionSetNode) -> int:
        self.level += 1
        try:
            if self.level > MAX_NESTING:  # shape.py counts selection sets the same way
                raise _TooNested
            return self._selections(parent, selection_set)
        finally:
            self.level -= 1

    def _selections(self, parent: GraphQLNamedType, selection_set: SelectionSetNode) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(parent, selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                scope = self.schema.get_type(condition.name.value) if condition else parent
                if scope is not None:
                    total += self.selections(scope, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
        return total

    def fragment(self, name: str) -> int:
        if name in self.known:
            return self.known[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.open:  # validation refuses both
            return 0
        self.open.add(name)
        scope = self.schema.get_type(definition.type_condition.name.value)
        found = 0 if scope is None else self.selections(scope, definition.selection_set)
        self.open.discard(name)
        self.known[name] = found
        return found

    def field(self, parent: GraphQLNamedType, node: FieldNode) -> int:
        if node.selection_set is None or not isinstance(
            parent, GraphQLObjectType | GraphQLInterfaceType
        ):
            return 0  # a scalar or enum, or __typename: resolved from what is there
        definition = parent.fields.get(node.name.value)
        if definition is None:  # introspection (refused outside development)
            return 0
        key = (parent.name, node.name.value)
        extra = EXPENSIVE.get(key, 0)
        if key == ("Query", "payment") and self.argument(node, definition, "asOf") is not None:
            extra += AS_OF_COST
        each = 1 + self.selections(get_named_type(definition.type), node.selection_set)
        return extra + self.size(parent, node, definition) * each

    def size(self, parent: GraphQLNamedType, node: FieldNode, definition: GraphQLField) -> int:
        """How many objects the field returns at most (or is assumed to)."""
        if "first" in definition.args:
            first = self.argument(node, definition, "first")
            if isinstance(first, bool) or not isinstance(first, int):
                return MAX_FIRST  # execution refuses it; count the worst meanwhile
            return max(0, min(first, MAX_FIRST))
        if not is_list_type(get_nullable_type(definition.type)):
            return 1
        if parent.name.endswith("Connection"):
            return 1  # a page's edges: its size was counted by the field with `first`
        return LIST_SIZES.get((parent.name, node.name.value), DEFAULT_LIST_SIZE)

    def argument(self, node: FieldNode, definition: GraphQLField, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, VariableNode):
                if value.name.value in self.variables:
                    return self.variables[value.name.value]
                break  # not sent: the argument's default applies
            return value_from_ast_untyped(value)
        declared = definition.args.get(name)
        if declared is None or declared.default_value is Undefined:
            return None
        return declared.default_value
