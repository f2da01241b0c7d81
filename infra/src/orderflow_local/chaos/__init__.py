"""Fault injection that proves the guarantees: `make chaos`.

Seeded scenarios (``scenarios``) place a mix of orders (``workload``) on the real local stack while
the local runtime's faults are armed, wait for quiescence, and run the invariant checker
(``checker``) over the real state: G1-G6 of docs/reliability.md. ``report`` prints the
scenario x invariant table.
"""
