"""The application layer: options, config, running checks, exit codes."""
