"""The worker's HTTP/1.1 codec against h11 (the local runtime serves with it): same answers, same requests."""

from __future__ import annotations

import itertools

import h11
import pytest
from hypothesis import given
from hypothesis import strategies as st

from render_sdk.workflows._http1 import MAX_HEAD_BYTES, Answer, ProtocolError, request_bytes

FRAMINGS = ("content-length", "chunked", "close")
HEADER_NAMES = st.sampled_from(["X-Request-Id", "Content-Type", "Date"])
HEADER_VALUES = st.text("abc-=; 123", max_size=20).map(str.strip)


def served(status: int, chunks: list[bytes], framing: str, extra: list[tuple[str, str]]) -> bytes:
    """What a server sends back for a request like the worker's, the body written in ``chunks``: h11's bytes
    (``Content-Length``, or chunked without it), or a body that ends where the connection does."""
    if framing == "close":  # h11 frames an answer to an HTTP/1.1 request itself, so write this one out.
        head = "".join(f"{name}: {value}\r\n" for name, value in [*extra, ("Connection", "close")])
        return f"HTTP/1.1 {status} Whatever\r\n{head}\r\n".encode() + b"".join(chunks)
    server = h11.Connection(our_role=h11.SERVER)
    server.receive_data(request_bytes("POST", "/callback", [("Host", "localhost")], b"{}"))
    assert isinstance(server.next_event(), h11.Request)
    headers = list(extra)
    if framing == "content-length":
        headers.append(("Content-Length", str(sum(map(len, chunks)))))
    data = server.send(h11.Response(status_code=status, headers=headers))
    data += b"".join(server.send(h11.Data(data=chunk)) for chunk in chunks if chunk)
    data += server.send(h11.EndOfMessage())
    return data


def parse(data: bytes, cuts: list[int], closes: bool) -> tuple[int, bytes]:
    """Feed ``data`` to an Answer in pieces cut at ``cuts``, then the end of the connection if ``closes``."""
    answer = Answer()
    bounds = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    for start, end in itertools.pairwise(bounds):
        if start < end and answer.receive(data[start:end]):
            return answer.status, bytes(answer.body)
    assert closes, "the answer should be complete without the end of the connection"
    assert answer.receive(b"")
    return answer.status, bytes(answer.body)


@given(
    status=st.sampled_from([200, 201, 202, 400, 404, 409, 429, 500, 503]),
    chunks=st.lists(st.binary(max_size=300), max_size=5),
    framing=st.sampled_from(FRAMINGS),
    cuts=st.lists(st.integers(min_value=0, max_value=2_000), max_size=8),
    extra=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=3),
)
def test_reads_what_h11_serves(
    status: int, chunks: list[bytes], framing: str, cuts: list[int], extra: list[tuple[str, str]]
) -> None:
    data = served(status, chunks, framing, extra)
    assert parse(data, cuts, closes=framing == "close") == (status, b"".join(chunks))


def test_skips_interim_answers_and_reads_an_empty_204() -> None:
    data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nDate: today\r\n\r\n"
    assert parse(data, [5, 30], closes=False) == (204, b"")


def test_chunk_extensions_and_trailers_are_ignored() -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;name=x\r\nabc\r\n0\r\nTrailer: y\r\n\r\n"
    assert parse(data, [], closes=False) == (200, b"abc")


def test_bytes_after_a_complete_answer_are_not_its_body() -> None:
    assert parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}garbage", [], closes=False) == (200, b"{}")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"HTTP/2 200 OK\r\n\r\n", "not an HTTP/1.1 status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP/1.1 status line"),
        (b"<html>\r\n\r\n", "not an HTTP/1.1 status line"),
        (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "not a header field"),
        (b"HTTP/1.1 200 OK\r\nName : value\r\n\r\n", "not a header field"),
        (b"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", "not a header field"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "not a chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n", "longer than its size"),
        (b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * (MAX_HEAD_BYTES // 6), "head is longer than"),
    ],
)
def test_what_is_not_an_answer_is_a_protocol_error(data: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        Answer().receive(data)


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"HTTP/1.1 200 OK\r\nContent-",
    ],
)
def test_the_connection_ending_inside_an_answer_is_a_protocol_error(data: bytes) -> None:
    answer = Answer()
    assert not answer.receive(data)
    with pytest.raises(ProtocolError, match="closed in the middle of the answer"):
        answer.receive(b"")


def test_the_connection_ending_before_an_answer_is_a_reset() -> None:
    with pytest.raises(ConnectionResetError):
        Answer().receive(b"")


@pytest.mark.parametrize("payload", [None, b"", b'{"task_run_id":"trn-1"}'])
def test_requests_are_what_h11_reads(payload: bytes | None) -> None:
    headers = [("Host", "localhost"), ("Connection", "close"), ("Content-Type", "application/json")]
    server = h11.Connection(our_role=h11.SERVER)
    server.receive_data(request_bytes("POST", "/get-subtask-result", headers, payload))
    request = server.next_event()
    assert isinstance(request, h11.Request)
    assert (request.method, request.target) == (b"POST", b"/get-subtask-result")
    length = [] if payload is None else [("Content-Length", str(len(payload)))]
    sent = [(name.encode(), value.encode()) for name, value in [*headers, *length]]
    assert request.headers.raw_items() == sent
    body = b""
    while not isinstance(event := server.next_event(), h11.EndOfMessage):
        assert isinstance(event, h11.Data)
        body += event.data
    assert body == (payload or b"")
