"""The bytes of one HTTP/1.1 exchange, as a callback-API client writes the request and reads the answer.

A worker makes a handful of requests, each on its own ``Connection: close`` socket, so this covers what such
an answer can be (RFC 9112): a status line, header fields, then a body framed by ``Transfer-Encoding:
chunked``, by ``Content-Length``, or by the end of the connection; interim 1xx answers are skipped. It is
small because a worker process pays for every module it imports (h11, the library the local runtime serves
with, imports dataclasses and inspect: more than the rest of a worker's run mode); the tests check it against
h11's answers.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MAX_HEAD_BYTES", "Answer", "ProtocolError", "request_bytes"]

MAX_HEAD_BYTES = 65_536
"""The most bytes a status line and header fields may take (a callback answer's take a few hundred)."""

_CHUNK_END = -1  # a chunk's data has arrived; the CRLF after it is next
_HEX_DIGITS = b"0123456789abcdefABCDEF"


class ProtocolError(Exception):
    """The bytes read are not an HTTP/1.1 answer."""


def request_bytes(method: str, path: str, headers: Iterable[tuple[str, str]], payload: bytes | None) -> bytes:
    """The request as it goes on the wire; ``Content-Length`` is added when there is a ``payload``."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    if payload is not None:
        head += f"Content-Length: {len(payload)}\r\n"
    return f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode("ascii") + (payload or b"")


class Answer:
    """An answer assembled from the bytes read: :meth:`receive` them until it says the answer is complete."""

    def __init__(self) -> None:
        self.status = 0
        """The status code; 0 until the head of a final (not 1xx) answer has arrived."""
        self.body = bytearray()
        self._buffer = bytearray()
        self._length: int | None = None  # Content-Length framing
        self._chunked = False
        self._chunk_left = 0  # chunked: the current chunk's bytes still to come, or _CHUNK_END
        self._trailer = False  # chunked: the last chunk has arrived

    def receive(self, data: bytes) -> bool:
        """Take the next bytes read from the socket (``b""`` at its end); True once the answer is complete.

        Raises:
            ProtocolError: The bytes are not an HTTP/1.1 answer, or the connection ended inside one.
            ConnectionResetError: The connection ended before any answer.
        """
        if not data:
            return self._end()
        self._buffer += data
        while not self.status:
            if not self._read_head():
                return False
        if self._chunked:
            return self._read_chunks()
        self.body += self._buffer
        self._buffer.clear()
        if self._length is None:
            return False  # framed by the end of the connection
        if len(self.body) < self._length:
            return False
        del self.body[self._length :]  # what follows is not this answer's (nothing should)
        return True

    def _end(self) -> bool:
        if not self.status and not self._buffer:
            raise ConnectionResetError("the connection closed before an answer")
        if not self.status or self._chunked or self._length is not None:
            raise ProtocolError("the connection closed in the middle of the answer")
        return True

    def _read_head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end == -1:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise ProtocolError(f"the answer's head is longer than {MAX_HEAD_BYTES} bytes")
            return False
        head = self._buffer[:end].decode("latin-1")
        del self._buffer[: end + 4]
        status_line, *lines = head.split("\r\n")
        version, _, rest = status_line.partition(" ")
        code = rest[:3]
        well_formed = code.isdigit() and code.isascii() and rest[3:4] in ("", " ")
        if version not in ("HTTP/1.1", "HTTP/1.0") or not well_formed:
            raise ProtocolError(f"not an HTTP/1.1 status line: {status_line[:100]!r}")
        fields = _fields(lines)
        if 100 <= int(code) < 200:
            return True  # interim (100 Continue, 102 Processing): the final answer follows
        self.status = int(code)
        if self.status in (204, 304):
            self._length = 0
        elif "transfer-encoding" in fields:
            self._chunked = fields["transfer-encoding"].lower().rsplit(",", 1)[-1].strip() == "chunked"
        elif "content-length" in fields:
            self._length = _content_length(fields["content-length"])
        return True

    def _read_chunks(self) -> bool:
        buffer = self._buffer
        while True:
            if self._chunk_left > 0:  # inside a chunk's data
                taken = buffer[: self._chunk_left]
                self.body += taken
                del buffer[: len(taken)]
                self._chunk_left -= len(taken)
                if self._chunk_left:
                    return False
                self._chunk_left = _CHUNK_END
            if self._chunk_left == _CHUNK_END:
                if len(buffer) < 2:
                    return False
                if buffer[:2] != b"\r\n":
                    raise ProtocolError("a chunk's data is longer than its size")
                del buffer[:2]
                self._chunk_left = 0
            end = buffer.find(b"\r\n")
            if end == -1:
                if len(buffer) > MAX_HEAD_BYTES:
                    raise ProtocolError(f"a chunk-size or trailer line is longer than {MAX_HEAD_BYTES} bytes")
                return False
            line = bytes(buffer[:end])
            del buffer[: end + 2]
            if self._trailer:  # after the last chunk: trailer fields (ignored) up to an empty line
                if not line:
                    return True
                continue
            size = line.split(b";", 1)[0].strip(b" \t")  # chunk extensions are ignored
            if not size or size.strip(_HEX_DIGITS):
                raise ProtocolError(f"not a chunk size: {line[:100]!r}")
            self._chunk_left = int(size, 16)
            self._trailer = self._chunk_left == 0


def _fields(lines: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or line[0] in " \t":
            raise ProtocolError(f"not a header field: {line[:100]!r}")
        key = name.lower()
        value = value.strip(" \t")
        fields[key] = f"{fields[key]}, {value}" if key in fields else value
    return fields


def _content_length(value: str) -> int:
    lengths = {part.strip() for part in value.split(",")}  # repeated fields must agree
    (length,) = lengths if len(lengths) == 1 else (None,)
    if length is None or not (length.isdigit() and length.isascii()):
        raise ProtocolError(f"invalid Content-Length: {value[:100]!r}")
    return int(length)
