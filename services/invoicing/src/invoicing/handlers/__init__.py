"""Lambda entry points of the invoicing service."""
