"""The inventory's Lambda entry points (one module per function in template.yaml)."""
