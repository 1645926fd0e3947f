"""One object through the loader's own code, in this process; prints its receipt and memory.

Run by `loadtests.large_files` in a fresh process per file, so the peak resident memory
(`ru_maxrss`) is this file's alone. The Ingestor is built as the function builds it
(`load_inventory.wiring`); only the tables and bucket are scratch ones.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics

from inventory.receipts import ObjectRef
from load_inventory.settings import LoadSettings
from load_inventory.wiring import build_ingestor


def rss_mb() -> float:
    """The peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--bucket", "--key", "--table", "--receipts", "--summaries"):
        parser.add_argument(name, required=True)
    parser.add_argument("--size", type=int, required=True)
    args = parser.parse_args()
    ingestor = build_ingestor(
        LoadSettings(
            table_name=args.table,
            receipts_table_name=args.receipts,
            store_summaries_table_name=args.summaries,
        ),
        Logger(service="loader-probe", level="WARNING"),
        Metrics(namespace="LoaderProbe", service="loader-probe"),
    )
    before = rss_mb()
    started = time.perf_counter()
    receipt = ingestor.ingest(
        ObjectRef(
            bucket=args.bucket,
            key=args.key,
            receipt_id=f"{time.time_ns():018X}",
            size=args.size,
            event_time=datetime.now(UTC).isoformat(),
        )
    )
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "status": receipt.status,
                "rows_written": receipt.rows_written,
                "rows_rejected": receipt.rows_rejected,
                "seconds": seconds,
                "rows_per_s": receipt.rows_written / seconds,
                "rss_before_mb": before,
                "rss_peak_mb": rss_mb(),
            }
        )
    )


if __name__ == "__main__":
    main()
