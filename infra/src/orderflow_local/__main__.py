"""`python -m orderflow_local`: run the whole orderflow system locally, in the foreground."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from orderflow_local.settings import Settings
from orderflow_local.system import LocalSystem


def main() -> int:
    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    system = LocalSystem(settings)
    try:
        system.start()
    except Exception:
        logging.getLogger("orderflow_local").exception("the local system failed to start")
        system.stop()
        return 1
    print(f"orderflow ready: API {system.gateway.url}  local AWS {settings.aws_endpoint}", flush=True)
    stop.wait()
    system.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
