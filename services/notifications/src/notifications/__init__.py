"""orderflow notifications service: emails the customer about their order, once per kind."""
