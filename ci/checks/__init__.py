"""The checks' shared logic: database validation, samples, invariants, lint rules."""
