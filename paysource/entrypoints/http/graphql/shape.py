"""The shape of a document, measured without recursion, before anything walks it.

graphql-core's rules, strawberry's limiters, our cost and the executor all walk
fragments recursively: a chain (or cycle) of a few hundred fragment spreads, a small
document under the token limit, overflowed the interpreter's stack in the depth
limiter, and a fragment spreading the next one twice per level made the limiters
walk 2**levels paths. Here each definition is read once, with an explicit stack,
and each fragment's totals are computed once (in dependency order) and reused
wherever it is spread: time and memory are linear in the document's size.

`Shape` gives what the limits need: the fragment spreads written, how deeply
selection sets and spreads nest (what bounds every recursive walk after this one),
each operation's depth (composite fields nested, introspection fields not followed,
as strawberry's depth limiter counts them) and the aliases of each operation with
fragments as if inlined.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

# Selection sets and fragment spreads nested, fragments as if inlined. Every walk
# after this check (graphql-core's rules, the cost, the executor) recurses at most
# this deep: a real screen nests a dozen fields and a few fragments.
MAX_NESTING = 50
# Aliases multiply with every spread of a fragment: capped, so a pathological
# document cannot make us count in huge integers (anything this large is refused).
COUNT_CAP = 10**9


@dataclass(frozen=True, slots=True)
class _Spread:
    name: str
    level: int  # selection sets around the spread, the definition's own included
    depth: int | None  # composite fields around it; None below an introspection field


@dataclass(frozen=True, slots=True)
class _Local:
    """One definition read alone: what its spreads add comes from their fragments."""

    nesting: int
    depth: int
    aliases: int
    spreads: tuple[_Spread, ...]


@dataclass(frozen=True, slots=True)
class Totals:
    nesting: int
    depth: int
    aliases: int


@dataclass(frozen=True, slots=True)
class Shape:
    spreads: int
    nesting: int
    operations: dict[str, Totals]  # by name; "anonymous" for an unnamed operation


def shape_of(document: DocumentNode) -> Shape:
    fragments = {
        d.name.value: _read(d.selection_set)
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    totals = _fragment_totals(fragments)
    operations: dict[str, Totals] = {}
    locals_ = list(fragments.values())
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            local = _read(definition.selection_set)
            locals_.append(local)
            name = definition.name.value if definition.name else "anonymous"
            operations[name] = _combine(local, totals)
    spreads = sum(len(local.spreads) for local in locals_)
    nesting = max((_combine(local, totals).nesting for local in locals_), default=0)
    return Shape(spreads=spreads, nesting=nesting, operations=operations)


def _read(selection_set: SelectionSetNode) -> _Local:
    """One definition's selections, with an explicit stack (no recursion)."""
    nesting = depth = aliases = 0
    spreads: list[_Spread] = []
    stack: list[tuple[SelectionSetNode, int, int | None]] = [(selection_set, 1, 0)]
    while stack:
        current, level, fields = stack.pop()
        nesting = max(nesting, level)
        for selection in current.selections:
            if isinstance(selection, FragmentSpreadNode):
                spreads.append(_Spread(selection.name.value, level, fields))
            elif isinstance(selection, InlineFragmentNode):
                stack.append((selection.selection_set, level + 1, fields))
            elif isinstance(selection, FieldNode):
                aliases += selection.alias is not None
                if selection.selection_set is None:
                    continue
                # strawberry's depth limiter does not follow introspection fields.
                introspection = selection.name.value.startswith("__")
                below = None if fields is None or introspection else fields + 1
                if below is not None:
                    depth = max(depth, below)
                stack.append((selection.selection_set, level + 1, below))
    return _Local(nesting, depth, aliases, tuple(spreads))


def _fragment_totals(fragments: dict[str, _Local]) -> dict[str, Totals]:
    """Each fragment's totals, its spreads followed, in post-order without recursion.

    A spread of a fragment already on the path (a cycle) or of an unknown fragment
    adds nothing here: graphql-core's rules refuse both, after these limits.
    """
    totals: dict[str, Totals] = {}
    for root in fragments:
        if root in totals:
            continue
        path = [root]
        on_path = {root}
        while path:
            name = path[-1]
            pending = next(
                (
                    s.name
                    for s in fragments[name].spreads
                    if s.name in fragments and s.name not in totals and s.name not in on_path
                ),
                None,
            )
            if pending is None:
                totals[name] = _combine(fragments[name], totals)
                on_path.discard(path.pop())
            else:
                path.append(pending)
                on_path.add(pending)
    return totals


def _combine(local: _Local, totals: dict[str, Totals]) -> Totals:
    nesting, depth, aliases = local.nesting, local.depth, local.aliases
    for spread in local.spreads:
        found = totals.get(spread.name)
        if found is None:
            continue
        nesting = max(nesting, spread.level + found.nesting)
        if spread.depth is not None:
            depth = max(depth, spread.depth + found.depth)
        aliases = min(COUNT_CAP, aliases + found.aliases)
    return Totals(nesting, depth, aliases)
