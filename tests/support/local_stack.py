"""The local system for end-to-end tests: started as `make run` starts it (see orderflow_local.launcher)."""

from orderflow_local.launcher import REPO_ROOT, HttpResponse, LocalStack, free_port, http, start_local_stack

__all__ = ["REPO_ROOT", "HttpResponse", "LocalStack", "free_port", "http", "start_local_stack"]
