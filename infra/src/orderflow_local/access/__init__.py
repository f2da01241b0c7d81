"""Least privilege proven by running: every AWS call a function makes, checked against its role.

``recording`` records the calls (in each function's process) and the deployed roles (at
provisioning) under ``ORDERFLOW_ACCESS_LOG``; ``calls`` maps a call to the IAM requests it makes;
``policies`` reads each function's grants; ``evaluate`` decides each request; ``check`` reports
denied requests and unused grants. ``python -m orderflow_local.access check <dir>`` runs it.
"""
