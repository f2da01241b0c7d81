"""The orders domain: plain Python, no AWS."""
