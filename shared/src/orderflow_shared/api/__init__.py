"""What every public API handler shares: a resolver that takes JSON objects only (``resolver``), who
is calling (``caller``), and the answers it documents (``responses``, ``parameters``) so the OpenAPI
document says what really comes back.

Nothing is re-exported here: a model that only declares how a parameter is documented
(``parameters``) is imported by code that serves no request, which must not load Powertools' event
handler with it.
"""
