"""migration-guard: CI checks and a correct runner for raw-SQL SQLite migrations."""

__version__ = "0.1.0"
TOOL_NAME = "migration-guard"
