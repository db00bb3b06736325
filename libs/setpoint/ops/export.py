"""`setpoint export --format jsonl|parquet [--output PATH]`: write the whole log out.

* `jsonl` (default to stdout): one line per event, `{"position": N, ...the event's wire
  JSON}` - the envelope fields at the top, `data` as an object, decimals as strings.
* `parquet` (needs `--output`): one row per event; columns `position` (int64), the
  envelope (`event_id`, `type`, `schema_version`, `account`, `symbol`, `occurred_at`
  as a UTC timestamp in microseconds, `correlation_id`, `causation_id`, `producer`,
  `traceparent`) and `data`, the event's data as a JSON string (decimals stay strings).
  Written in row groups of `BATCH` events, so memory does not grow with the log.

Entries the log cannot read are not exported (they are in the log's quarantine; `setpoint
audit` reports them); the command says how many on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path
from typing import IO, Any

import orjson

from setpoint.eventlog.port import EventLog, Recorded
from setpoint.ops.exits import OK, USAGE
from setpoint.ops.logread import opened_log, run_on_log, stream

BATCH = 50_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl")
    parser.add_argument("--output", "-o", help="file to write (jsonl: default stdout)")


def main(config: str | None, args: argparse.Namespace) -> int:
    if args.format == "parquet" and not args.output:
        print("setpoint export: parquet needs --output PATH", file=sys.stderr)
        return USAGE
    if args.format == "jsonl" and args.output:
        with open(args.output, "wb") as out:
            written, skipped = run_on_log("export", _run(config, args.format, None, out))
    else:
        written, skipped = run_on_log("export", _run(config, args.format, args.output, None))
    where = args.output or "stdout"
    note = f", {skipped} unreadable entries left out" if skipped else ""
    print(f"exported {written} events to {where}{note}", file=sys.stderr)
    return OK


async def _run(
    config: str | None, fmt: str, parquet: str | None, out: IO[bytes] | None
) -> tuple[int, int]:
    async with opened_log(config) as log:
        if fmt == "parquet":
            assert parquet is not None
            written = await export_parquet(log, Path(parquet))
        else:
            written = await export_jsonl(log, out or sys.stdout.buffer)
        return written, len(log.quarantine)


def jsonl_line(record: Recorded) -> bytes:
    """`{"position": N, ...event}` and a newline."""
    body = record.event.to_json()
    return b'{"position":%d,%s\n' % (record.position, body[1:])


async def export_jsonl(log: EventLog, out: IO[bytes], *, progress: bool | None = None) -> int:
    """Write every event as a JSON line; return how many."""
    count = 0
    async with aclosing(stream(log, "export", progress=progress)) as records:
        async for record in records:
            out.write(jsonl_line(record))
            count += 1
    out.flush()
    return count


# --------------------------------------------------------------------------- parquet


def parquet_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("position", pa.int64()),
            ("event_id", pa.string()),
            ("type", pa.string()),
            ("schema_version", pa.int32()),
            ("account", pa.string()),
            ("symbol", pa.string()),
            ("occurred_at", pa.timestamp("us", tz="UTC")),
            ("correlation_id", pa.string()),
            ("causation_id", pa.string()),
            ("producer", pa.string()),
            ("traceparent", pa.string()),
            ("data", pa.string()),
        ]
    )


_COLUMNS: tuple[tuple[str, Callable[[Recorded], Any]], ...] = (
    ("position", lambda r: r.position),
    ("event_id", lambda r: r.event.event_id),
    ("type", lambda r: r.event.type),
    ("schema_version", lambda r: r.event.schema_version),
    ("account", lambda r: r.event.account),
    ("symbol", lambda r: r.event.symbol),
    ("occurred_at", lambda r: r.event.occurred_at),
    ("correlation_id", lambda r: r.event.correlation_id),
    ("causation_id", lambda r: r.event.causation_id),
    ("producer", lambda r: r.event.producer.value),
    ("traceparent", lambda r: r.event.traceparent),
    ("data", lambda r: orjson.dumps(r.event.data.model_dump(mode="json")).decode()),
)


def _batch(records: list[Recorded], schema: Any) -> Any:
    import pyarrow as pa

    columns = {name: [get(r) for r in records] for name, get in _COLUMNS}
    return pa.RecordBatch.from_pydict(columns, schema=schema)


async def export_parquet(log: EventLog, path: Path, *, progress: bool | None = None) -> int:
    """Write every event as a parquet row (module docstring); return how many."""
    import pyarrow.parquet as pq

    schema = parquet_schema()
    count = 0
    pending: list[Recorded] = []
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        async with aclosing(stream(log, "export", progress=progress)) as records:
            async for record in records:
                pending.append(record)
                if len(pending) >= BATCH:
                    writer.write_batch(_batch(pending, schema))
                    count += len(pending)
                    pending = []
        if pending or count == 0:
            writer.write_batch(_batch(pending, schema))
            count += len(pending)
    return count
