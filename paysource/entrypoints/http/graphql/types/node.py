"""Relay's Node: every object with an id can be fetched again with `node(id)`.

Global ids are the REST ids (`pay_…`, `cus_…`, `re_…`, `mer_…`): already unique
across types thanks to their prefix, and the same in both APIs.
"""

from __future__ import annotations

import strawberry


@strawberry.interface(description="An object with a global id, refetchable with `node(id)`.")
class Node:
    id: strawberry.ID
