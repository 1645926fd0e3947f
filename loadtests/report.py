"""summary.json and report.html for a load run: percentiles, SLO verdict, plots."""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from string import Template
from typing import Any

from harness.measure import (
    SEED_RATE_ALERT_P99_MS,
    SEED_RATE_INGEST_P99_MS,
    SLO_INGEST_P99_MS,
    percentile,
    stats,
)
from infra.outputs import StackOutputs

TEMPLATE = Template((Path(__file__).parent / "report_template.html").read_text("utf-8"))


def summarize(
    *,
    run_id: str,
    options: dict[str, Any],
    records: list[dict[str, Any]],
    started: float,
    ended: float,
    accounting: dict[str, Any],
    endpoint: str,
    errors: dict[str, int],
    ramp: list[dict[str, Any]] | None,
    outputs: StackOutputs,
    faults: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The contract's keys (docs/design.md) plus what a reader needs to trust them.

    `faults` (harness.faults.InjectionLog.as_dict) is what the run injected, kept as `faults`.
    """
    # A user stopped at the very end may have started a file without completing its PUT.
    records = [r for r in records if r["put_ms"] is not None or r["ingest_ms"] is not None]
    ingested = [r for r in records if r["ingest_ms"] is not None]
    ingest = [r["ingest_ms"] for r in ingested]
    alerts = [ms for r in records for ms in r["alert_ms"]]
    puts = [r["put_ms"] for r in records if r["put_ms"] is not None]
    # Throughput over the loaded window: first PUT to the last receipt seen.
    last = max((r["started_at"] + r["ingest_ms"] / 1000 for r in ingested), default=ended)
    window = max(last - started, 1e-9)
    rows = sum(r["rows"] for r in ingested)
    ingest_stats, alert_stats = stats(ingest), stats(alerts)
    slo_ok = (
        ingest_stats["p99"] is not None
        and ingest_stats["p99"] <= SLO_INGEST_P99_MS
        and accounting["lost_files"] == 0
    )
    summary: dict[str, Any] = {
        "run_id": run_id,
        "shape": options["shape"],
        "options": options,
        "endpoint": endpoint,
        "stack": {
            k: v
            for k, v in outputs.as_outputs().items()
            if k in ("BucketName", "TableName", "TopicArn")
        },
        "duration_s": round(ended - started, 1),
        "files_uploaded": len(records),
        "files_ingested": len(ingested),
        "lost_files": accounting["lost_files"],
        "rows_written": rows,
        "files_per_s": round(len(ingested) / window, 2),
        "rows_per_s": round(rows / window, 1),
        "ingest_ms": ingest_stats,
        "alert_ms": alert_stats,
        "put_ms": stats(puts),
        "alerts_expected": sum(r["expected_alerts"] for r in records),
        "alerts_received": len(alerts),
        "loader_duration_ms": stats([r["duration_ms"] for r in ingested if r["duration_ms"]]),
        "errors": errors,
        "accounting": accounting,
        "slo": {
            "target_ms": SLO_INGEST_P99_MS,
            "rule": f"p99 upload -> rows visible <= {SLO_INGEST_P99_MS:.0f} ms, and no file lost",
            "ingest_p99_ms": ingest_stats["p99"],
            "verdict": "PASS" if slo_ok else "FAIL",
            "seed_rate_targets": {
                "ingest_p99_ms": SEED_RATE_INGEST_P99_MS,
                "alert_p99_ms": SEED_RATE_ALERT_P99_MS,
            },
        },
    }
    if faults is not None:
        summary["faults"] = faults
    if ramp is not None:
        held = [s for s in ramp if s["held"]]
        summary["ramp"] = {
            "steps": ramp,
            "max_sustainable_files_per_s": held[-1]["rate"] if held else None,
        }
    return summary


def figure_png(draw: Any, size: tuple[float, float] = (9, 3.6)) -> bytes:
    """A PNG of one plot in the reports' style: `draw(ax)` fills the axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size, dpi=100)
    draw(ax)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _figure_png(draw: Any) -> str:
    return base64.b64encode(figure_png(draw)).decode()


def _windows(records: list[dict[str, Any]], t0: float, width: float = 5.0) -> list[float]:
    end = max((r["started_at"] - t0 for r in records), default=0.0)
    return [i * width for i in range(int(end // width) + 1)]


def plots(records: list[dict[str, Any]], started: float) -> dict[str, str]:
    """PNG (base64) plots: percentiles over time, histogram, throughput over time."""
    width = 5.0
    edges = _windows(records, started, width)

    def over_time(ax: Any) -> None:
        for field, label in (("ingest_ms", "ingest"), ("alert_ms", "alert")):
            for p, style in ((50, "-"), (95, "--"), (99, ":")):
                xs, ys = [], []
                for lo in edges:
                    values: list[float] = []
                    for r in records:
                        if lo <= r["started_at"] - started < lo + width:
                            v = r[field]
                            values += v if isinstance(v, list) else ([v] if v is not None else [])
                    if values:
                        xs.append(lo + width / 2)
                        ys.append(percentile(values, p))
                ax.plot(xs, ys, style, label=f"{label} p{p}")
        ax.axhline(
            SLO_INGEST_P99_MS, color="red", alpha=0.5, label=f"{SLO_INGEST_P99_MS:.0f} ms SLO"
        )
        ax.set_xlabel("seconds into the run (by upload time)")
        ax.set_ylabel("ms from upload")
        ax.set_yscale("log")
        ax.legend(fontsize=7, ncol=4)
        ax.set_title("Latency percentiles over time (5 s windows)")

    def histogram(ax: Any) -> None:
        ingest = [r["ingest_ms"] for r in records if r["ingest_ms"] is not None]
        alerts = [ms for r in records for ms in r["alert_ms"]]
        top = max([*ingest, *alerts, 1.0])
        low = max(1.0, min([*ingest, *alerts, top]))
        bins = [
            10 ** (i / 20) for i in range(int(20 * math.log10(low)), int(20 * math.log10(top)) + 2)
        ]
        ax.hist(ingest, bins=bins, alpha=0.6, label=f"ingest ({len(ingest)})")
        ax.hist(alerts, bins=bins, alpha=0.6, label=f"alert ({len(alerts)})")
        ax.axvline(SLO_INGEST_P99_MS, color="red", alpha=0.5, label=f"{SLO_INGEST_P99_MS:.0f} ms")
        ax.set_xscale("log")
        ax.set_xlabel("ms from upload")
        ax.set_ylabel("count")
        ax.legend(fontsize=8)
        ax.set_title("Latency histogram")

    def throughput(ax: Any) -> None:
        up = [
            sum(1 for r in records if lo <= r["started_at"] - started < lo + width) / width
            for lo in edges
        ]
        done = [
            sum(
                1
                for r in records
                if r["ingest_ms"] is not None
                and lo <= r["started_at"] + r["ingest_ms"] / 1000 - started < lo + width
            )
            / width
            for lo in edges
        ]
        ax.plot([e + width / 2 for e in edges], up, label="uploaded files/s")
        ax.plot([e + width / 2 for e in edges], done, label="ingested files/s")
        ax.set_xlabel("seconds into the run")
        ax.set_ylabel("files/s")
        ax.legend(fontsize=8)
        ax.set_title("Throughput over time")

    return {
        "latency_over_time": _figure_png(over_time),
        "histogram": _figure_png(histogram),
        "throughput": _figure_png(throughput),
    }


def table_html(rows: list[tuple[str, Any]]) -> str:
    """A two-column HTML table of (label, value) rows, escaped."""
    cells = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    return f"<table>{cells}</table>"


def _step_row(step: dict[str, Any]) -> tuple[str, str]:
    outcome = {True: "held", False: "did not hold", None: "not reached"}[step["held"]]
    return (
        f"{step['rate']} files/s ({step['start_s']:.0f}-{step['end_s']:.0f} s)",
        f"files {step['files']}, p99 ingest {step['ingest_p99_ms'] or 'over the deadline'} ms, "
        f"errors {step['errors']}, unfinished {step['unfinished']}: {outcome}",
    )


FAULTS_SHOWN = 50


def _faults_section(faults: dict[str, Any]) -> str:
    """What was injected, when (seconds from the first PUT), to what: the first FAULTS_SHOWN."""
    rows = [
        (
            f"{entry.get('at_s', 0):.1f} s: {entry['kind']}",
            f"{entry['target']} ({entry['detail']})" if entry["detail"] else entry["target"],
        )
        for entry in faults["injections"][:FAULTS_SHOWN]
    ]
    total = faults.get("injections_total", len(faults["injections"]))
    more = (
        f"<p>... and {total - FAULTS_SHOWN} more in <code>faults.json</code>.</p>"
        if total > FAULTS_SHOWN
        else ""
    )
    errors = faults.get("errors") or []
    failed = (
        f"<p>{len(errors)} injections could not be made (see <code>faults.json</code>).</p>"
        if errors
        else ""
    )
    heading = (
        f"<h2>Faults injected</h2><p>Spec <code>{html.escape(faults['spec'])}</code>: "
        f"{html.escape(faults['summary'])}. The accounting below must still be clean.</p>"
    )
    return heading + table_html(rows) + more + failed


def write_html(out: Path, summary: dict[str, Any], records: list[dict[str, Any]]) -> Path:
    """report.html: verdict, key figures, plots, accounting, and links to locust's outputs."""
    started = min((r["started_at"] for r in records), default=0.0)
    images = plots(records, started) if records else {}
    verdict = summary["slo"]["verdict"]
    colour = "#1a7f37" if verdict == "PASS" else "#cf222e"
    figures = [
        (
            "files uploaded / ingested / lost",
            f"{summary['files_uploaded']} / {summary['files_ingested']} / {summary['lost_files']}",
        ),
        ("throughput", f"{summary['files_per_s']} files/s, {summary['rows_per_s']} rows/s"),
        ("ingest ms p50 / p95 / p99", "{p50} / {p95} / {p99}".format(**summary["ingest_ms"])),
        ("alert ms p50 / p95 / p99", "{p50} / {p95} / {p99}".format(**summary["alert_ms"])),
        ("S3 PUT ms p50 / p95 / p99", "{p50} / {p95} / {p99}".format(**summary["put_ms"])),
        (
            "alerts expected / received",
            f"{summary['alerts_expected']} / {summary['alerts_received']}",
        ),
        ("endpoint", summary["endpoint"]),
        ("duration", f"{summary['duration_s']} s"),
    ]
    if "ramp" in summary:
        figures.append(
            ("max sustainable (ramp)", f"{summary['ramp']['max_sustainable_files_per_s']} files/s")
        )
    if "total_usd_per_month" in summary.get("cost", {}):
        cost = summary["cost"]
        figures.append(
            (
                f"projected AWS cost at {cost['files_per_day']:,.0f} files/day",
                f"${cost['total_usd_per_month']:.2f}/month (the seed claimed $25-50; prices of "
                f"{cost['prices_date']}; durations measured on the emulator)",
            )
        )
    if "faults" in summary:
        figures.append(("faults injected", summary["faults"]["summary"]))
    if "generator" in summary:
        generator = summary["generator"]
        cpu = ", ".join(f"{role} {pct} %" for role, pct in generator["cpu_percent"].items())
        figures.append(
            (f"load generator ({generator.get('workers') or 'no'} workers)", f"CPU {cpu}")
        )
    ramp_rows = ""
    if "ramp" in summary:
        steps = [_step_row(s) for s in summary["ramp"]["steps"]]
        ramp_rows = "<h2>Ramp steps</h2>" + table_html(steps)
    if "faults" in summary:
        ramp_rows += _faults_section(summary["faults"])
    titles = {
        "latency_over_time": "Latency over time",
        "histogram": "Latency histogram",
        "throughput": "Throughput over time",
    }
    pictures = "".join(
        f'<h2>{title}</h2><img alt="{title}" src="data:image/png;base64,{images[name]}">'
        for name, title in titles.items()
        if name in images
    )
    body = TEMPLATE.substitute(
        run_id=html.escape(summary["run_id"]),
        colour=colour,
        verdict=verdict,
        ingest_p99=summary["slo"]["ingest_p99_ms"],
        slo=f"{SLO_INGEST_P99_MS:.0f}",
        figures=table_html(figures),
        images=pictures,
        ramp=ramp_rows,
        accounting=table_html(list(summary["accounting"].items())),
    )
    path = out / "report.html"
    path.write_text(body, "utf-8")
    return path
