"""Offline checks and packaging of orderflow's infrastructure as code."""
