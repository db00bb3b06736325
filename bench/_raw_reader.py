"""The reading half of the two-process replay that `python -m bench eventlog` measures:
`python -m bench._raw_reader`.

The other direction of `setpoint.eventlog.offload`: here the child reads raw entries from
JetStream and the parent parses and folds them (a replay into the projections, whose state
the parent needs). Measured, not used by Setpoint: the parent's parse and folds cost most
of the time, so taking the NATS client's work off it gains at most about a fifth on an
idle machine and loses under load (docs/benchmarks.md). Frames:

1. in: `(url, stream, filter_subject, start, stop)`;
2. out: `(positions, subjects, payloads)` batches of the stored messages of the filter
   from `start` through `stop`, in order, then `None`; or `("error", text)` if the read
   failed (and nothing after it).
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Final

import nats

from setpoint.eventlog.jetstream_raw import Feed
from setpoint.eventlog.offload import child_exit, child_frames, child_send, child_setup

SEND_EVENTS: Final = 4096


async def stream_raw(url: str, stream: str, filter_subject: str, start: int, stop: int) -> None:
    """Step 2 of the module docstring, on a connection of its own."""
    nc = await nats.connect(url, name="setpoint-raw-reader", allow_reconnect=False)
    feed = Feed(nc, stream, filter_subject, start)
    try:
        await feed.open()
        positions: list[int] = []
        subjects: list[bytes] = []
        payloads: list[bytes] = []
        async with aclosing(feed.batches(stop)) as batches:
            async for batch in batches:
                positions += [raw.sequence for raw in batch]
                subjects += [raw.subject for raw in batch]
                payloads += [raw.data for raw in batch]
                if len(positions) >= SEND_EVENTS:
                    child_send((positions, subjects, payloads))
                    positions, subjects, payloads = [], [], []
        if positions:
            child_send((positions, subjects, payloads))
        child_send(None)
    finally:
        await feed.close()
        await nc.close()


def main() -> int:
    child_setup()
    with child_exit():
        request = next(child_frames(), None)
        if request is None:
            return 0
        url, stream, filter_subject, start, stop = request
        try:
            asyncio.run(stream_raw(url, stream, filter_subject, start, stop))
        except BrokenPipeError:
            raise
        except Exception as exc:  # the parent raises it as EventLogError
            child_send(("error", repr(exc)))
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
