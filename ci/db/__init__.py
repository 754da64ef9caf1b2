"""The database layer: connections, the statement gatekeeper, bookkeeping, runner, fingerprints."""
