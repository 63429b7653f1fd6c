"""The GraphQL API for frontends (docs/graphql.md): mount it with `mount_graphql`."""

from __future__ import annotations

from paysource.entrypoints.http.graphql.app import mount_graphql

__all__ = ["mount_graphql"]
