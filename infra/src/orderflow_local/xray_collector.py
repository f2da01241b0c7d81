"""The local stand-in for the X-Ray daemon: collects the segments the functions emit, and shows an
order's trace as a tree.

The X-Ray SDK sends each finished segment to the daemon (``AWS_XRAY_DAEMON_ADDRESS``, by default
127.0.0.1:2000) as one UDP datagram: a JSON header line ``{"format":"json","version":1}``, a newline,
then the segment document (``trace_id``, ``id``, ``parent_id``, ``name``, ``start_time``,
``end_time``, ``annotations``, ``subsegments``, ...). The collector keeps the documents in memory,
in the runtime's process, as long as the system runs (moto keeps the rest of the system's state
there too), and the API port serves them: ``GET /_orderflow/traces?order=<orderId>`` answers the
segments of the order's trace (``SegmentStore.trace_of_order``).

``python -m orderflow_local.xray_collector <orderId>`` (``make trace ORDER=<orderId>``) prints that
order's trace as a tree, each segment with its duration and its start after the trace's first.
Exit status: 0 printed; 2 no segment of that order (or bad arguments); 1 the system did not answer.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final

from orderflow_local.api_gateway import JsonResponse

logger = logging.getLogger(__name__)

TRACES_PATH: Final = "/_orderflow/traces"
DEFAULT_PORT: Final = 2000
PROTOCOL_HEADER: Final = {"format": "json", "version": 1}
MAX_SEGMENTS: Final = 200_000  # the oldest are dropped beyond this (a long benchmark)
EXIT_NOT_FOUND: Final = 2
EXIT_UNAVAILABLE: Final = 1


class InvalidSegmentError(ValueError):
    """A datagram that is not the daemon protocol's header line and one segment document."""


def parse_datagram(data: bytes) -> dict[str, Any]:
    """The segment document of one datagram of the daemon protocol."""
    try:
        header_line, document = data.decode("utf-8").split("\n", 1)
        header = json.loads(header_line)
        segment = json.loads(document)
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidSegmentError(f"not a daemon protocol datagram: {error}") from None
    if header != PROTOCOL_HEADER:
        raise InvalidSegmentError(f"unknown protocol header {header!r}")
    if not isinstance(segment, dict) or not all(
        isinstance(segment.get(key), str) for key in ("trace_id", "id", "name")
    ):
        raise InvalidSegmentError("a segment document needs trace_id, id and name")
    return segment


class SegmentStore:
    """Every segment collected, by trace; thread-safe."""

    def __init__(self, capacity: int = MAX_SEGMENTS) -> None:
        self._lock = threading.Lock()
        self._segments: deque[dict[str, Any]] = deque(maxlen=capacity)

    def add(self, segment: dict[str, Any]) -> None:
        with self._lock:
            self._segments.append(segment)

    def __len__(self) -> int:
        with self._lock:
            return len(self._segments)

    def trace_of_order(self, order_id: str) -> list[dict[str, Any]]:
        """Every segment of the order's trace: the trace of the first segment annotated with the order
        id, the request that placed it. (A later read of the order, ``GET /orders/{orderId}``, is
        annotated with it too, in a trace of its own.)"""
        with self._lock:
            segments = list(self._segments)
        named = [
            segment for segment in segments if (segment.get("annotations") or {}).get("order_id") == order_id
        ]
        if not named:
            return []
        trace_id = min(named, key=lambda segment: float(segment.get("start_time", 0.0)))["trace_id"]
        return [segment for segment in segments if segment["trace_id"] == trace_id]

    def respond(self, method: str, path: str, query: Mapping[str, list[str]]) -> JsonResponse:
        """``GET /_orderflow/traces?order=<orderId>``: that order's segments."""
        if method != "GET":
            return JsonResponse(HTTPStatus.METHOD_NOT_ALLOWED, {"message": f"{method} not allowed on {path}"})
        orders = query.get("order") or []
        if len(orders) != 1 or not orders[0]:
            return JsonResponse(HTTPStatus.BAD_REQUEST, {"message": "name one order: ?order=<orderId>"})
        return JsonResponse(HTTPStatus.OK, {"orderId": orders[0], "segments": self.trace_of_order(orders[0])})


class XRayCollector:
    """A UDP server of the daemon protocol on ``host:port`` (port 0: any free port), feeding a store."""

    def __init__(self, store: SegmentStore, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self.store = store
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((host, port))
        self._socket.settimeout(0.2)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="xray-collector", daemon=True)
        self.rejected = 0

    @property
    def address(self) -> str:
        """What AWS_XRAY_DAEMON_ADDRESS is set to for the functions."""
        host, port = self._socket.getsockname()
        return f"{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=2)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                data = self._socket.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                self.store.add(parse_datagram(data))
            except InvalidSegmentError as invalid:
                self.rejected += 1
                logger.warning("segment refused: %s", invalid)


# --- the tree ------------------------------------------------------------------------------------


@dataclass
class Node:
    segment: dict[str, Any]
    children: list[Node] = field(default_factory=list)

    @property
    def start(self) -> float:
        return float(self.segment.get("start_time", 0.0))

    @property
    def duration_ms(self) -> float | None:
        end = self.segment.get("end_time")
        return None if end is None else (float(end) - self.start) * 1000


def build_forest(segments: Iterable[dict[str, Any]]) -> list[Node]:
    """The segments (and their subsegments) joined by ``parent_id``; the roots first by start time.
    A root is a segment without a parent, or whose parent was not collected (an orphan)."""
    nodes: dict[str, Node] = {}

    def add(document: dict[str, Any], parent_id: str | None) -> None:
        entry = dict(document)
        if parent_id is not None:
            entry.setdefault("parent_id", parent_id)
        entry.setdefault("trace_id", document.get("trace_id"))
        nodes[str(document["id"])] = Node(entry)
        for child in document.get("subsegments") or []:
            add(child, str(document["id"]))

    for segment in segments:
        add(segment, None)
    roots: list[Node] = []
    for node in nodes.values():
        parent = nodes.get(str(node.segment.get("parent_id")))
        if parent is None or parent is node:
            roots.append(node)
        else:
            parent.children.append(node)
    for node in nodes.values():
        node.children.sort(key=lambda child: child.start)
    return sorted(roots, key=lambda root: root.start)


def render_tree(segments: Iterable[dict[str, Any]]) -> str:
    """The trace as an indented tree: name, what it handled, duration and start offset."""
    roots = build_forest(segments)
    if not roots:
        return ""
    origin = min(root.start for root in roots)
    trace_ids = sorted({str(root.segment.get("trace_id")) for root in roots})
    lines = [f"trace {', '.join(trace_ids)}"]
    if len(roots) > 1:
        lines.append(f"({len(roots)} roots: the trace is not connected)")

    def walk(node: Node, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        lines.append(f"{prefix}{branch}{_label(node, origin)}")
        below = prefix + ("" if top else ("   " if last else "│  "))
        for index, child in enumerate(node.children):
            walk(child, below, index == len(node.children) - 1, False)

    for root in roots:
        walk(root, "", True, True)
    return "\n".join(lines)


def _label(node: Node, origin: float) -> str:
    segment = node.segment
    annotations = segment.get("annotations") or {}
    what = f" [{annotations['handled']}]" if annotations.get("handled") else ""
    duration = node.duration_ms
    took = "in progress" if duration is None else f"{duration:.1f} ms"
    flags = " FAULT" if segment.get("fault") else (" ERROR" if segment.get("error") else "")
    return f"{segment['name']}{what}  {took}  (+{(node.start - origin) * 1000:.1f} ms){flags}"


# --- make trace ----------------------------------------------------------------------------------


def fetch_order_trace(api_url: str, order_id: str) -> list[dict[str, Any]]:
    url = f"{api_url}{TRACES_PATH}?{urllib.parse.urlencode({'order': order_id})}"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the local runtime's URL
        document = json.loads(response.read())
    return list(document["segments"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orderflow_local.xray_collector")
    parser.add_argument("order_id", help="the order whose trace to print")
    arguments = parser.parse_args(argv)
    from orderflow_local.settings import Settings

    settings = Settings.from_env()
    try:
        segments = fetch_order_trace(f"http://{settings.host}:{settings.api_port}", arguments.order_id)
    except (urllib.error.URLError, OSError) as error:
        print(f"the local system did not answer: {error} (is it running? make run)", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if not segments:
        print(f"no trace of order {arguments.order_id}", file=sys.stderr)
        return EXIT_NOT_FOUND
    print(render_tree(segments))
    return 0


if __name__ == "__main__":
    sys.exit(main())
