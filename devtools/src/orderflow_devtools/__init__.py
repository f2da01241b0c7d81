"""orderflow's development tooling, never deployed: the event contract registry (``registry``), the
schema compatibility check (``compatibility``) and what the services' tests build on (``testing``)."""
