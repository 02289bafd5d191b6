"""The worker's side of one callback exchange: the request's bytes as a server reads them (h11), and answers
in every framing a server may use, cut anywhere, read back to their status and body."""

from __future__ import annotations

import h11
import pytest

from render_sdk.workflows._http import Exchange, ProtocolError

BODY = b'{"task_run_id": "trn-1", "input": "W10="}'


def served(headers: list[tuple[str, str]], chunks: list[bytes], *, interim: bool = False) -> bytes:
    """An answer to the exchange's request, written by h11 as a server would write it."""
    server = h11.Connection(our_role=h11.SERVER)
    server.receive_data(Exchange("GET", "/input", None).outgoing)
    assert isinstance(server.next_event(), h11.Request)
    assert isinstance(server.next_event(), h11.EndOfMessage)
    data = server.send(h11.InformationalResponse(status_code=100, headers=[])) if interim else b""
    data += server.send(h11.Response(status_code=200, headers=headers))
    for chunk in chunks:
        data += server.send(h11.Data(data=chunk))
    return data + server.send(h11.EndOfMessage())


def read(data: bytes, step: int, *, closes: bool = False) -> Exchange:
    exchange = Exchange("GET", "/input", None)
    done = False
    for start in range(0, len(data), step):
        assert not done, "the answer was complete before its last byte"
        done = exchange.receive(data[start : start + step])
    if closes:
        done = exchange.receive(b"")
    assert done
    return exchange


def test_the_request_is_http_1_1_with_its_body() -> None:
    server = h11.Connection(our_role=h11.SERVER)
    server.receive_data(Exchange("POST", "/callback", b'{"complete": {}}').outgoing)
    request = server.next_event()
    assert isinstance(request, h11.Request)
    assert (request.method, request.target) == (b"POST", b"/callback")
    headers = dict(request.headers)
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"connection"] == b"close"
    data = server.next_event()
    assert isinstance(data, h11.Data) and data.data == b'{"complete": {}}'
    assert isinstance(server.next_event(), h11.EndOfMessage)


# A body framed by the end of the connection: h11 never writes one to an HTTP/1.1 client, other servers may.
CLOSE_DELIMITED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + BODY


@pytest.mark.parametrize("step", [1, 7, 4096])
@pytest.mark.parametrize(
    ("answer", "closes"),
    [
        (served([("Content-Length", str(len(BODY)))], [BODY]), False),
        (served([], [BODY[:10], BODY[10:]]), False),  # h11 chunks a body of unknown length
        (CLOSE_DELIMITED, True),
    ],
    ids=["content-length", "chunked", "close-delimited"],
)
def test_every_framing_reads_back_whole(answer: bytes, closes: bool, step: int) -> None:
    exchange = read(answer, step, closes=closes)
    assert (exchange.status, bytes(exchange.body)) == (200, BODY)


def test_an_interim_answer_is_passed_over() -> None:
    exchange = read(served([("Content-Length", str(len(BODY)))], [BODY], interim=True), 5)
    assert (exchange.status, bytes(exchange.body)) == (200, BODY)


def test_a_connection_closed_before_an_answer_is_a_reset() -> None:
    with pytest.raises(ConnectionResetError):
        Exchange("GET", "/input", None).receive(b"")


def test_a_connection_closed_inside_a_framed_answer_is_a_protocol_error() -> None:
    exchange = Exchange("GET", "/input", None)
    answer = served([("Content-Length", str(len(BODY)))], [BODY])
    assert not exchange.receive(answer[:-5])
    with pytest.raises(ProtocolError, match="closed in the middle"):
        exchange.receive(b"")


def test_bytes_that_are_not_http_are_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        Exchange("GET", "/input", None).receive(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
