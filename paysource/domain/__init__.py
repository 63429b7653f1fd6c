"""The payments domain: aggregates, value objects and rules.

Pure by design: this package imports only the standard library and
`eventsourcing.domain`, so every rule can be tested without a database, a web
framework or Redis (a test walks the imports to keep it that way).
"""
