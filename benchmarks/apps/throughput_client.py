"""The load of the throughput benchmark: N runs through the REST API, at most C in flight; stdlib only.

Usage: python throughput_client.py HOST PORT TASK RUNS CONCURRENCY

Each of CONCURRENCY loops takes the next run number, starts the run with ``POST /v1/task-runs`` on its own
keep-alive connection, then waits for the run's terminal event on ``GET /v1/task-runs/events?taskRunIds=ID``
(one stream per run, as the official SDKs wait; the server keeps a stream open, so it is closed once the event
is read), and goes on with the next run. HTTP/1.1 is written and read by hand over asyncio streams: the load
must cost as little CPU as possible and the same for every side, so that it measures the server, not itself.

Prints one JSON line: wall seconds from the first request to the last terminal event, this process's CPU
seconds over the same span, and each run's latency (request sent to terminal event read), in seconds.
"""

import asyncio
import json
import sys
import time

TERMINAL = (b'"status":"completed"', b'"status":"failed"', b'"status":"canceled"')


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def start_run(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, task: str, number: int
) -> str:
    body = json.dumps({"task": task, "input": [number]}).encode()
    writer.write(
        b"POST /v1/task-runs HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (host.encode(), len(body), body)
    )
    status, headers = await read_head(reader)
    payload = await reader.readexactly(int(headers[b"content-length"]))
    if status != 202:
        raise SystemExit(f"POST /v1/task-runs: {status} {payload[:300]!r}")
    run_id: str = json.loads(payload)["id"]
    return run_id


async def wait_terminal(address: tuple[str, int], host: str, run_id: str) -> None:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(
            b"GET /v1/task-runs/events?taskRunIds=%s HTTP/1.1\r\nHost: %s\r\n"
            b"Accept: text/event-stream\r\n\r\n" % (run_id.encode(), host.encode())
        )
        status, _ = await read_head(reader)
        if status != 200:
            raise SystemExit(f"GET /v1/task-runs/events: {status}")
        # The body is chunked, one chunk per frame: a frame's data line is never split by a chunk header.
        buffered = b""
        while True:
            data = await reader.read(65536)
            if not data:
                raise SystemExit(f"event stream of {run_id} ended before its terminal event")
            buffered += data
            start = buffered.find(b"\ndata: ")
            if start != -1 and buffered.find(b"\n", start + 1) != -1:
                line = buffered[start + 7 : buffered.index(b"\n", start + 1)]
                if not line.startswith(b"{") or not any(status in line for status in TERMINAL):
                    raise SystemExit(f"unexpected event for {run_id}: {line[:300]!r}")
                if b'"status":"completed"' not in line:
                    raise SystemExit(f"run {run_id} did not complete: {line[:500]!r}")
                return
    finally:
        writer.close()


async def main(host: str, port: int, task: str, runs: int, concurrency: int) -> None:
    numbers = iter(range(runs))
    latencies: list[float] = []
    address = (host, port)
    authority = f"{host}:{port}"
    connections = [await asyncio.open_connection(*address) for _ in range(min(concurrency, runs))]

    async def loop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for number in numbers:
            started = time.perf_counter()
            try:
                run_id = await start_run(reader, writer, authority, task, number)
            except (asyncio.IncompleteReadError, ConnectionError):
                # The server closed the connection while it was idle (its keep-alive timeout), before reading
                # this request: start the run on a new one.
                writer.close()
                reader, writer = await asyncio.open_connection(*address)
                run_id = await start_run(reader, writer, authority, task, number)
            await wait_terminal(address, authority, run_id)
            latencies.append(time.perf_counter() - started)
        writer.close()

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(loop(reader, writer) for reader, writer in connections))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"wall": wall, "cpu": cpu, "latencies": latencies}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
