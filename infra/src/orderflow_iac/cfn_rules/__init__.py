"""The house rules as cfn-lint rules, run by `python -m orderflow_iac.check` with --append-rules.

cfn-lint loads every module here whose name starts with a letter (this one it skips).
"""
