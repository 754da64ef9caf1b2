"""The core layer: errors, findings, the migrations model, SQL text, lock file, git refs."""
