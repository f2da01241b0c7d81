"""The local X-Ray collector: the daemon protocol as the X-Ray SDK speaks it, an order's trace, the tree."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter
from aws_xray_sdk.core.models.segment import Segment
from aws_xray_sdk.core.models.subsegment import Subsegment

from orderflow_local import xray_collector
from orderflow_local.xray_collector import (
    InvalidSegmentError,
    SegmentStore,
    XRayCollector,
    build_forest,
    parse_datagram,
    render_tree,
)

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
OTHER = "1-5759e988-00000000000000000000aaaa"


def segment(
    id_: str, name: str, start: float, end: float | None, parent: str | None = None, **annotations: str
) -> dict[str, Any]:
    document: dict[str, Any] = {"trace_id": ROOT, "id": id_, "name": name, "start_time": start}
    if end is not None:
        document["end_time"] = end
    if parent:
        document["parent_id"] = parent
    if annotations:
        document["annotations"] = annotations
    return document


@pytest.fixture
def collector() -> Iterator[XRayCollector]:
    running = XRayCollector(SegmentStore(), "127.0.0.1", 0)
    running.start()
    yield running
    running.stop()


def _wait_for(store: SegmentStore, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(store) < count and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.enable_socket
def test_collects_what_the_x_ray_sdk_sends(collector: XRayCollector) -> None:
    sent = Segment("orderflow-orders-OrdersApiFunction", traceid=ROOT, parent_id="53995c3f42cd8ad8")
    sent.put_annotation("order_id", "o-1")
    sent.add_subsegment(Subsegment("PutEvents", "aws", sent))
    sent.close()
    emitter = UDPEmitter(collector.address)
    emitter.send_entity(sent)
    emitter._socket.sendto(b"not the protocol", (emitter.ip, emitter.port))

    _wait_for(collector.store, 1)
    (received,) = collector.store.trace_of_order("o-1")
    assert received["id"] == sent.id
    assert received["trace_id"] == ROOT
    assert received["parent_id"] == "53995c3f42cd8ad8"
    assert received["subsegments"][0]["name"] == "PutEvents"
    deadline = time.monotonic() + 5
    while collector.rejected < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert collector.rejected == 1


@pytest.mark.parametrize(
    "datagram",
    [
        b'{"format":"json","version":1}',  # no document
        b'{"format":"json","version":2}\n{"trace_id":"t","id":"i","name":"n"}',
        b'{"format":"json","version":1}\n{"id":"i","name":"n"}',
        b'{"format":"json","version":1}\n[1, 2]',
        b"\xff\xfe",
    ],
)
def test_refuses_what_is_not_one_segment_of_the_protocol(datagram: bytes) -> None:
    with pytest.raises(InvalidSegmentError):
        parse_datagram(datagram)


def test_an_orders_trace_is_the_trace_of_the_first_segment_that_names_it() -> None:
    store = SegmentStore()
    api = segment("a" * 16, "api", 1.0, 1.1, order_id="o-1")
    reserve = segment("b" * 16, "reserve", 1.2, 1.3, parent="a" * 16)  # not annotated: same trace
    elsewhere = {**segment("c" * 16, "other", 1.0, 1.1, order_id="o-2"), "trace_id": OTHER}
    read_later = {**segment("f" * 16, "api", 2.0, 2.1, order_id="o-1"), "trace_id": OTHER}
    for document in (read_later, api, reserve, elsewhere):
        store.add(document)

    assert store.trace_of_order("o-1") == [api, reserve]
    assert store.trace_of_order("o-3") == []
    answer = store.respond("GET", "/_orderflow/traces", {"order": ["o-1"]})
    assert (answer.status, answer.document) == (200, {"orderId": "o-1", "segments": [api, reserve]})
    assert store.respond("GET", "/_orderflow/traces", {}).status == 400
    assert store.respond("POST", "/_orderflow/traces", {"order": ["o-1"]}).status == 405


def test_the_store_keeps_the_newest_segments() -> None:
    store = SegmentStore(capacity=2)
    for n in range(3):
        store.add(segment(f"{n:016x}", f"s{n}", 1.0, 2.0, order_id="o-1"))
    assert [document["name"] for document in store.trace_of_order("o-1")] == ["s1", "s2"]


def test_the_tree_joins_segments_and_subsegments_by_parent_in_start_order() -> None:
    api = segment("a" * 16, "orders-api", 100.0, 100.050, handled="POST /orders", order_id="o-1")
    api["subsegments"] = [{"id": "d" * 16, "name": "PutEvents", "start_time": 100.010, "end_time": 100.020}]
    payment = segment("c" * 16, "payments", 100.300, 100.450, parent="a" * 16, handled="ProcessPayment")
    reserve = segment("b" * 16, "inventory", 100.100, 100.200, parent="a" * 16, handled="ReserveStock")
    commit = segment("e" * 16, "commit", 100.500, None, parent="c" * 16)

    (root,) = build_forest([payment, commit, api, reserve])
    assert [child.segment["name"] for child in root.children] == ["PutEvents", "inventory", "payments"]

    assert render_tree([payment, commit, api, reserve]).splitlines() == [
        f"trace {ROOT}",
        "orders-api [POST /orders]  50.0 ms  (+0.0 ms)",
        "├─ PutEvents  10.0 ms  (+10.0 ms)",
        "├─ inventory [ReserveStock]  100.0 ms  (+100.0 ms)",
        "└─ payments [ProcessPayment]  150.0 ms  (+300.0 ms)",
        "   └─ commit  in progress  (+500.0 ms)",
    ]


def test_an_orphan_is_a_root_of_its_own_and_the_tree_says_it_is_not_connected() -> None:
    api = segment("a" * 16, "orders-api", 1.0, 1.1)
    orphan = {**segment("b" * 16, "email-sent", 2.0, 2.1, parent="f" * 16), "fault": True}

    assert [root.segment["name"] for root in build_forest([orphan, api])] == ["orders-api", "email-sent"]
    lines = render_tree([orphan, api]).splitlines()
    assert lines[1] == "(2 roots: the trace is not connected)"
    assert lines[-1] == "email-sent  100.0 ms  (+1000.0 ms) FAULT"
    assert render_tree([]) == ""


@pytest.mark.enable_socket
def test_make_trace_says_when_the_system_does_not_answer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from orderflow_local.launcher import free_port

    monkeypatch.setenv("ORDERFLOW_API_PORT", str(free_port()))
    assert xray_collector.main(["o-1"]) == xray_collector.EXIT_UNAVAILABLE
    assert "did not answer" in capsys.readouterr().err
