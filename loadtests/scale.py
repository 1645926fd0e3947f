"""`inventory scale --by size|rate`: scaling curves, each step one run of the load runner.

- `--by size`: files of 50, 500, 5,000, 20,000 and 100,000 rows (`--sizes`). Each step
  uploads a fixed number of files (`--size-budget-rows` rows a step, between `--min-files`
  and `--max-files` files), one at a time: the rate is set from the previous step so a
  file's gap is `--headroom` times its predicted ingest time. It measures ingest latency,
  the loader's own duration, and the projected AWS cost per 1,000 files, against rows.
- `--by rate`: files of `--rows` rows (50) offered at 0.5 ... 30 files/s (`--rates`), each
  step `--step-seconds` long and at least `--min-files` files. It stops after the first
  step that is clearly saturated (`saturation`): the achieved rate below `--min-share` of
  the offered one, the ingest p50 over `--stop-factor` times the first step's, or a loss.

Every step is `loadtests.runner.run` (warm-up, locust, receipts, alerts, accounting, cost),
its report folder inside `reports/<stamp>-scale-<by>/`. Beside each step are recorded the
emulator's CPU and the machine's (`scale_probes.TreeCpu`) and, when the emulator was started
with `AWS_XRAY_DAEMON_ADDRESS`, where the functions' time went by call (`call_split`). The
folder gets `scale.json` (every step, when and where it was measured, and where each curve
bends), PNG plots and `scale.html`.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any

DEFAULT_SIZES = (50, 500, 5_000, 20_000, 100_000)
DEFAULT_RATES = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0)
TEMPLATE_PATH = Path(__file__).with_name("scale_template.html")


@dataclass(frozen=True)
class Step:
    """One step of a sweep: `files` files of `rows` rows offered at `rate` files/s."""

    by: str  # "size" or "rate"
    rows: int
    rate: float  # files/s; a size step's is set when it runs (`pace`)
    files: int

    @property
    def x(self) -> float:
        """What the curve is plotted against: rows per file, or offered files/s."""
        return float(self.rows) if self.by == "size" else self.rate

    @property
    def duration_s(self) -> float:
        """An upper bound for the run: it ends when its files are all in."""
        return self.files / max(self.rate, 1e-6) * 1.5 + 30.0


# --- the plan ----------------------------------------------------------------------------------


def size_plan(
    sizes: Sequence[int],
    *,
    budget_rows: int = 50_000,
    min_files: int = 2,
    max_files: int = 20,
    rate: float = 1.0,
) -> list[Step]:
    """A step per size, smallest first, with about `budget_rows` rows in each step's files."""
    if not sizes or min(sizes) < 1 or min_files < 1 or max_files < min_files:
        raise ValueError("sizes must be >= 1 and 1 <= min_files <= max_files")
    return [
        Step("size", rows, rate, max(min_files, min(max_files, math.ceil(budget_rows / rows))))
        for rows in sorted(set(sizes))
    ]


def rate_plan(
    rates: Sequence[float], *, rows: int = 50, step_s: float = 30.0, min_files: int = 20
) -> list[Step]:
    """A step per rate, lowest first: `step_s` seconds of files, and at least `min_files`."""
    if not rates or min(rates) <= 0 or rows < 1 or step_s <= 0 or min_files < 1:
        raise ValueError("rates must be > 0, rows >= 1, step_s > 0 and min_files >= 1")
    return [
        Step("rate", rows, rate, max(min_files, math.ceil(rate * step_s)))
        for rate in sorted(set(rates))
    ]


def pace(rows: int, done: Sequence[Mapping[str, Any]], max_rate: float, headroom: float) -> float:
    """Files/s for a size step so that files arrive one at a time.

    The next file's ingest time is predicted from the last step's ingest p50, in proportion
    to rows (an overestimate, since part of it is per file, so the gap errs long).
    """
    if not done:
        return max_rate
    last = done[-1]
    p50_ms = last["ingest_ms"]["p50"] or 0.0
    predicted_s = p50_ms / 1000 * rows / max(last["rows"], 1)
    return min(max_rate, 1 / max(headroom * predicted_s, 1e-6))


# --- judging the curve -------------------------------------------------------------------------


def rates_of(records: Sequence[Mapping[str, Any]]) -> tuple[float | None, float | None]:
    """(uploaded, completed) files/s of a run: the spacing of its PUTs, and of its receipts.

    From first to last, so a short step's start and end do not count against it: a pipeline
    that keeps up completes files as fast as they were uploaded; one that falls behind
    spreads them out.
    """
    starts = sorted(r["started_at"] for r in records if r.get("put_ms") is not None)
    ends = sorted(
        r["started_at"] + r["ingest_ms"] / 1000 for r in records if r.get("ingest_ms") is not None
    )

    def rate(times: list[float]) -> float | None:
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        return round((len(times) - 1) / span, 3) if span > 0 else None

    return rate(starts), rate(ends)


def saturation(
    result: Mapping[str, Any],
    baseline: Mapping[str, Any],
    *,
    stop_factor: float = 4.0,
    min_share: float = 0.85,
) -> str | None:
    """Why a rate step is clearly saturated, or None: it fell behind, queued, or lost files."""
    if result["lost_files"]:
        return f"{result['lost_files']} files lost"
    offered, achieved = result["offered_files_per_s"], result["achieved_files_per_s"]
    if achieved is not None and achieved < min_share * offered:
        return f"completed {achieved:g} files/s of {offered:g} offered (< {min_share:.0%})"
    p50, base = result["ingest_ms"]["p50"], baseline["ingest_ms"]["p50"]
    if p50 is not None and base and p50 > stop_factor * base:
        return f"ingest p50 {p50:.0f} ms, over {stop_factor:g}x the first step's {base:.0f} ms"
    return None


def knee(xs: Sequence[float], ys: Sequence[float | None], factor: float = 2.0) -> int | None:
    """The first point whose y passes `factor` times the lowest y before it (None: no bend)."""
    lowest = math.inf
    for i, y in enumerate(ys):
        if y is None:
            continue
        if i and y > factor * lowest:
            return i
        lowest = min(lowest, y)
    return None


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares (intercept, slope) of y = a + b x."""
    n = len(xs)
    if n < 2 or n != len(ys):
        raise ValueError("a fit needs two or more (x, y) pairs")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if not sxx:
        raise ValueError("a fit needs two different x")
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return my - slope * mx, slope


def marginal_slopes(xs: Sequence[float], ys: Sequence[float]) -> list[float]:
    """dy/dx between consecutive points."""
    return [(y1 - y0) / (x1 - x0) for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:], strict=False)]


def size_bends(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Where the size curves bend: a fixed per-file part, then a per-row part.

    The loader's p50 duration is fitted as `fixed + per_row x rows` over the steps; below
    `fixed / per_row` rows the per-file part dominates, above it the rows do. A segment whose
    slope is over 1.5 times the one before is reported as superlinear. The cost per 1,000
    files gets the same treatment.
    """
    ok = [r for r in results if r["loader_ms"]["p50"] is not None]
    if len(ok) < 2:
        return {}
    xs = [float(r["rows"]) for r in ok]

    def describe(ys: list[float], unit: str) -> dict[str, Any]:
        fixed, per_row = linear_fit(xs, ys)
        slopes = marginal_slopes(xs, ys)
        steeper = [
            f"{xs[i]:,.0f}-{xs[i + 1]:,.0f} rows"
            for i in range(1, len(slopes))
            if slopes[i - 1] > 0 and slopes[i] > 1.5 * slopes[i - 1]
        ]
        # The per-file part and the per-row cost at the small end (the fit is pulled by the big
        # files): the rows outweigh the file past `crossover_rows`.
        first = slopes[0]
        small = ys[0] - first * xs[0]
        return {
            "fit": f"{fixed:.4g} {unit} + {per_row * 1000:.4g} {unit} per 1,000 rows",
            "per_file": small,
            "per_1000_rows": per_row * 1000,
            "crossover_rows": small / first if first > 0 and small > 0 else None,
            "marginal_per_1000_rows": [s * 1000 for s in slopes],
            "superlinear_segments": steeper,
        }

    bends = {"loader_p50_ms": describe([r["loader_ms"]["p50"] for r in ok], "ms")}
    ingest = [r["ingest_ms"]["p50"] for r in ok]
    if all(v is not None for v in ingest):
        bends["ingest_p50_ms"] = describe([float(v) for v in ingest], "ms")
    costs = [r.get("cost", {}).get("usd_per_1000_files") for r in ok]
    if all(c is not None for c in costs):
        bends["usd_per_1000_files"] = describe([float(c) for c in costs], "USD")
    return bends


def rate_bends(results: Sequence[Mapping[str, Any]], factor: float = 2.0) -> dict[str, Any]:
    """Where the rate curves bend: the first step whose p95 (or p50) is `factor` x the lowest."""
    xs = [r["offered_files_per_s"] for r in results]
    found: dict[str, Any] = {}
    for name in ("p50", "p95", "p99"):
        i = knee(xs, [r["ingest_ms"][name] for r in results], factor)
        found[f"ingest_{name}"] = xs[i] if i is not None else None
    saturated = [r for r in results if r.get("saturated")]
    found["saturated_at"] = saturated[0]["offered_files_per_s"] if saturated else None
    held = [r for r in results if not r.get("saturated")]
    found["last_held"] = held[-1]["offered_files_per_s"] if held else None
    found["factor"] = factor
    return found


# --- one step's figures ------------------------------------------------------------------------


def cost_per_1000(summary: Mapping[str, Any], files_per_day: float) -> dict[str, Any] | None:
    """The load-dependent AWS cost per 1,000 files, by service, from a run's measured usage."""
    from loadtests.cost import load_prices, project_monthly, usage_from_summary

    if "usage_per_file" not in summary.get("cost", {}):
        return None
    bill = project_monthly(usage_from_summary(summary), files_per_day, load_prices())
    per = 1000 / bill["files_per_month"]
    services: dict[str, float] = {}
    for line in bill["lines"]:
        if not line["fixed"]:
            services[line["service"]] = services.get(line["service"], 0.0) + line["usd"] * per
    return {
        "files_per_day": files_per_day,
        "usd_per_1000_files": bill["usd_per_1000_files"],
        "services": {k: round(v, 6) for k, v in sorted(services.items(), key=lambda kv: -kv[1])},
        "fixed_usd_per_month": round(bill["fixed_usd_per_month"], 2),
        "usage_per_file": summary["cost"]["usage_per_file"],
        "measured": summary["cost"].get("measured", {}),
    }


def step_result(
    step: Step,
    summary: Mapping[str, Any],
    run_dir: str,
    *,
    records: Sequence[Mapping[str, Any]],
    cpu: Mapping[str, Any] | None,
    split: Mapping[str, Any] | None,
    cost: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """What scale.json keeps of a step: the run's figures and the probes' evidence.

    `achieved_files_per_s` is the rate files completed at (`rates_of`); the run's own
    `files_per_s` (files over the whole window, start and tail included) is kept beside it.
    """
    uploaded, completed = rates_of(records)
    return {
        "x": step.x,
        "rows": step.rows,
        "files_planned": step.files,
        "offered_files_per_s": round(step.rate, 3),
        "run": run_dir,
        "files_uploaded": summary["files_uploaded"],
        "files_ingested": summary["files_ingested"],
        "lost_files": summary["lost_files"],
        "uploaded_files_per_s": uploaded,
        "achieved_files_per_s": completed if completed is not None else summary["files_per_s"],
        "run_files_per_s": summary["files_per_s"],
        "rows_per_s": summary["rows_per_s"],
        "ingest_ms": summary["ingest_ms"],
        "alert_ms": summary["alert_ms"],
        "loader_ms": summary["loader_duration_ms"],
        "loader_invocation_ms_mean": _invocation_mean(summary),
        "alerts": [summary["alerts_received"], summary["alerts_expected"]],
        "accounting_ok": summary["accounting"]["ok"],
        "generator_cpu_percent": summary.get("generator", {}).get("cpu_percent", {}),
        "emulator": dict(cpu) if cpu else None,
        "call_split": dict(split) if split else None,
        "cost": dict(cost) if cost else None,
    }


def _invocation_mean(summary: Mapping[str, Any]) -> float | None:
    """The loader's mean invocation, from its REPORT lines: the receipt and then the store
    summary's refresh (the receipt's own duration stops at the receipt)."""
    measured = summary.get("cost", {}).get("measured", {})
    calls = measured.get("loader_invocations")
    return round(measured["loader_duration_ms_total"] / calls, 1) if calls else None


# --- plots and the page -----------------------------------------------------------------------


def plots(
    by: str, results: Sequence[Mapping[str, Any]], bends: Mapping[str, Any]
) -> dict[str, bytes]:
    """PNG plots of the curves (report.py's style); names are the files' stems."""
    from loadtests.report import figure_png

    xs = [r["x"] for r in results]
    images: dict[str, bytes] = {}
    styles = (("p50", "-o"), ("p95", "--o"), ("p99", ":o"))

    def latency(ax: Any) -> None:
        for name, style in styles:
            ax.plot(xs, [r["ingest_ms"][name] for r in results], style, label=f"ingest {name}")
        for name, style in (("p50", "-s"), ("p95", "--s")):
            ax.plot(xs, [r["loader_ms"][name] for r in results], style,
                    label=f"loader to receipt {name}")  # fmt: skip
        invocation = [r.get("loader_invocation_ms_mean") for r in results]
        if any(v is not None for v in invocation):
            ax.plot(xs, invocation, "-.^", label="loader invocation mean (REPORT)")
        ax.set_yscale("log")
        ax.set_ylabel("ms (log scale)")
        ax.legend(fontsize=8, ncol=2)
        if by == "size":
            ax.set_xscale("log")
            ax.set_xlabel("rows per file (log scale)")
            ax.set_title("Ingest latency (upload to receipt) and loader duration against file size")
        else:
            ax.set_xlabel("offered rate, files/s (50-row files)")
            ax.set_title("Ingest latency and loader duration against arrival rate")
            bend = bends.get("ingest_p95")
            if bend is not None:
                ax.axvline(bend, color="red", alpha=0.4, label=f"p95 bend ({bend:g}/s)")
                ax.legend(fontsize=8, ncol=2)

    images["latency"] = figure_png(latency)
    if by == "rate":

        def throughput(ax: Any) -> None:
            achieved = [r["achieved_files_per_s"] for r in results]
            ax.plot(xs, achieved, "-o", label="completed files/s")
            uploaded = [r.get("uploaded_files_per_s") for r in results]
            ax.plot(xs, uploaded, "--.", label="uploaded files/s")
            ax.plot(xs, xs, ":", color="grey", label="offered = achieved")
            ax.set_xlabel("offered rate, files/s (50-row files)")
            ax.set_ylabel("files/s")
            ax.set_title("Throughput and emulator CPU against arrival rate")
            cpu = [(r["emulator"] or {}).get("emulator_pct_of_one_core") for r in results]
            if any(c is not None for c in cpu):
                twin = ax.twinx()
                twin.plot(xs, cpu, "-^", color="tab:red", label="emulator + its workers")
                cores = os.cpu_count() or 2
                machine = [
                    (r["emulator"] or {}).get("machine_busy_pct", 0.0) * cores for r in results
                ]
                twin.plot(xs, machine, ":v", color="tab:purple", label="whole machine (shared)")
                twin.set_ylabel("CPU, % of one core", color="tab:red")
                twin.axhline(100 * (os.cpu_count() or 2), color="tab:red", alpha=0.3, ls="--")
                twin.legend(fontsize=8, loc="lower right")
            ax.legend(fontsize=8, loc="upper left")

        images["throughput"] = figure_png(throughput)
    split = _split_rows(results)
    if split:

        def calls(ax: Any) -> None:
            labels = [f"{r['x']:g}" for r in results]
            bottom = [0.0] * len(results)
            for name, values in split.items():
                ax.bar(labels, values, bottom=bottom, label=CALL_NAMES.get(name, name))
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
            ax.set_ylabel("% of Load-Inventory's handler time")
            ax.set_xlabel("rows per file" if by == "size" else "offered files/s")
            ax.set_title(
                "Where a Load-Inventory invocation's time goes, by call (X-Ray, mean per file)"
            )
            ax.set_ylim(0, 100)
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))

        images["loader-split"] = figure_png(calls, size=(11, 3.8))
    costs = [(r.get("cost") or {}).get("services") for r in results]
    if by == "size" and all(costs):

        def cost(ax: Any) -> None:
            totals = [r["cost"]["usd_per_1000_files"] for r in results]
            ax.plot(xs, totals, "-o", color="black", label="total (load-dependent)")
            top = sorted(costs[-1] or {}, key=lambda s: -(costs[-1] or {})[s])[:5]
            for service in top:
                ax.plot(xs, [(c or {}).get(service, 0.0) for c in costs], "--.", label=service)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("rows per file (log scale)")
            ax.set_ylabel("USD per 1,000 files (log scale)")
            per_day = results[0]["cost"]["files_per_day"]
            ax.set_title(
                "Projected AWS cost per 1,000 files against file size "
                f"(at {per_day:,.0f} files/day)"
            )
            ax.legend(fontsize=8)

        images["cost"] = figure_png(cost)
    return images


# The loader's calls whose traced method does not say what they are for.
CALL_NAMES = {"dynamodb.Query": "dynamodb.Query (the store summary's recount)"}


def _split_rows(results: Sequence[Mapping[str, Any]]) -> dict[str, list[float]]:
    """The loader's time per call as % of its handler time, per step (for the stacked bars)."""
    splits = [((r.get("call_split") or {}).get("load-inventory")) for r in results]
    if not all(splits):
        return {}
    names: list[str] = []
    for split in splits:
        for name in (split or {})["calls"]:
            if name not in names:
                names.append(name)
    rows: dict[str, list[float]] = {}
    for name in [*names, "other (parse, items, logging)"]:
        values = []
        for split in splits:
            assert split is not None
            handler = split["handler_ms"] or 1e-9
            ms = (
                split["other_ms"]
                if name.startswith("other")
                else split["calls"].get(name, {}).get("ms_per_invocation", 0.0)
            )
            values.append(100 * max(ms, 0.0) / handler)
        rows[name] = values
    return rows


def steps_table(by: str, results: Sequence[Mapping[str, Any]]) -> str:
    """The steps as an HTML table."""
    head = [
        "rows" if by == "size" else "offered files/s", "files", "achieved files/s",
        "ingest p50 / p95 / p99 ms", "loader p50 / p95 ms", "emulator CPU % of a core",
        "machine busy %", "USD / 1,000 files", "note",
    ]  # fmt: skip
    body = []
    for r in results:
        emulator = r.get("emulator") or {}
        cost = (r.get("cost") or {}).get("usd_per_1000_files")
        cells = [
            f"{r['x']:,g}", f"{r['files_ingested']}/{r['files_planned']}",
            f"{r['achieved_files_per_s']:g}",
            "{p50} / {p95} / {p99}".format(**r["ingest_ms"]),
            "{p50} / {p95}".format(**r["loader_ms"]),
            str(emulator.get("emulator_pct_of_one_core", "")),
            str(emulator.get("machine_busy_pct", "")),
            f"{cost:.4f}" if cost is not None else "",
            r.get("saturated") or ("" if r["accounting_ok"] else "accounting: loss or mismatch"),
        ]  # fmt: skip
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    header = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
    return f"<table>{header}{''.join(body)}</table>"


def write_html(out: Path, scale: Mapping[str, Any], images: Mapping[str, bytes]) -> Path:
    """scale.html: how it was measured, the steps, where it bends, the plots (inline PNGs)."""
    import base64

    from loadtests.report import table_html

    template = Template(TEMPLATE_PATH.read_text("utf-8"))
    about = [
        ("command", scale["command"]),
        ("measured", f"{scale['measured_at']} on {scale['machine']}"),
        ("endpoint", scale["endpoint"]),
        ("evidence", scale["evidence"]),
    ]
    bends = [(name, json.dumps(value, default=str)) for name, value in scale["bends"].items()]
    pictures = "".join(
        f'<h2>{html.escape(name)}</h2><img alt="{html.escape(name)}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        for name, png in images.items()
    )
    body = template.substitute(
        title=html.escape(f"Scaling by {scale['by']}: {scale['id']}"),
        about=table_html(about),
        steps=steps_table(scale["by"], scale["steps"]),
        bends=table_html(bends),
        images=pictures,
    )
    path = out / "scale.html"
    path.write_text(body, "utf-8")
    return path


# --- the command -------------------------------------------------------------------------------

EXAMPLES = """
examples:
  inventory scale --by size        # 50 ... 100,000 rows a file, one file at a time
  inventory scale --by rate        # 50-row files at 0.5 ... 30 files/s, until saturated
  inventory scale --by rate --rates 1 5 10 15 20 --step-seconds 40
  AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:4642 inventory up   # first: the loader's split by call
  inventory scale --replot reports/<stamp>-scale-size   # bends, plots and page again

Writes reports/<stamp>-scale-<by>/: scale.json, scale.html, the PNG plots, and each step's
own load-run folder (report.html, summary.json, files.jsonl).
"""


def _number(group: Any, flag: str, default: float, help: str) -> None:
    """A number option whose type is its default's, its default said in its help."""
    group.add_argument(flag, type=type(default), default=default, help=f"{help} ({default:,g})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `inventory scale`."""
    parser.description = (
        "Scaling curves: ingest latency, loader duration and cost per 1,000 files against file "
        "size, or latency and throughput against arrival rate; each step is a load run."
    )
    parser.epilog = EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--by", choices=["size", "rate"], help="what to sweep (required)")
    parser.add_argument(
        "--replot", type=Path, metavar="DIR",
        help="no sweep: judge the bends and draw the plots and page again from DIR/scale.json",
    )  # fmt: skip
    size = parser.add_argument_group("--by size")
    size.add_argument(
        "--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), metavar="ROWS",
        help="rows per file, one step each (default: 50 500 5000 20000 100000)",
    )  # fmt: skip
    _number(size, "--size-budget-rows", 50_000, "rows a size step uploads in all: its files "
            "are this / rows, within --min-files and --max-files")  # fmt: skip
    _number(size, "--max-files", 20, "most files in a size step")
    _number(size, "--max-rate", 1.0, "files/s of the first size step, and the most for any")
    _number(size, "--headroom", 2.0, "a size step spaces its files by this many times the "
            "predicted ingest time, so they arrive one at a time")  # fmt: skip
    rate = parser.add_argument_group("--by rate")
    rate.add_argument(
        "--rates", type=float, nargs="+", default=list(DEFAULT_RATES), metavar="FILES_PER_S",
        help="offered rates, one step each (default: 0.5 1 2 5 10 20 30)",
    )  # fmt: skip
    _number(rate, "--rows", 50, "rows per file")
    _number(rate, "--step-seconds", 30.0, "seconds per rate step")
    _number(rate, "--stop-factor", 4.0, "saturated when the ingest p50 passes this many "
            "times the first step's")  # fmt: skip
    _number(rate, "--min-share", 0.85, "saturated when the files complete at less than this "
            "share of the offered rate")  # fmt: skip
    parser.add_argument(
        "--min-files", type=int, default=None,
        help="fewest files in a step (default: 2 by size, 20 by rate)",
    )  # fmt: skip
    _number(parser, "--files-per-day", 10_000.0, "the rate the cost per 1,000 files is "
            "projected at (the seed's; X-Ray's sampling makes it depend on the rate)")  # fmt: skip
    _number(parser, "--seed", 12, "simulator seed of the first step")
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="reports folder")
    parser.add_argument("--endpoint", help="AWS_ENDPOINT_URL (default: the embedded emulator)")
    parser.add_argument(
        "--xray-port", type=int, default=None,
        help="UDP port to collect the functions' X-Ray segments on (default: the port of "
        "AWS_XRAY_DAEMON_ADDRESS, if set; the emulator must have been started with it)",
    )  # fmt: skip


def plan_of(args: argparse.Namespace) -> list[Step]:
    """The sweep the options ask for."""
    if args.by == "size":
        return size_plan(
            args.sizes,
            budget_rows=args.size_budget_rows,
            min_files=args.min_files or 2,
            max_files=args.max_files,
            rate=args.max_rate,
        )
    return rate_plan(
        args.rates, rows=args.rows, step_s=args.step_seconds, min_files=args.min_files or 20
    )


def command(args: argparse.Namespace) -> int:
    """Run the sweep; exit 1 if a step's accounting found a loss or a mismatch."""
    from rich.console import Console

    console = Console(width=None if os.isatty(1) else 120)
    if args.replot is not None:
        return replot(args.replot, console)
    if args.by is None:
        console.print("[red]error:[/] --by size or --by rate is required (or --replot DIR)")
        return 2
    try:
        steps = plan_of(args)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    if args.endpoint:
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint
        os.environ["AWS_ENDPOINT_URL_S3"] = args.endpoint
    import locust  # noqa: F401  (first: gevent's monkey-patching must precede boto3)

    from harness import env, stack

    env.use_emulator_defaults()
    outputs = stack.running()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    scale_id = f"{stamp}-scale-{args.by}"
    out = args.reports / scale_id
    out.mkdir(parents=True, exist_ok=False)
    results = sweep(args, steps, outputs, out, console)
    bends = size_bends(results) if args.by == "size" else rate_bends(results)
    xray = args.xray_port or _xray_port()
    scale = {
        "id": scale_id,
        "by": args.by,
        "command": "inventory scale " + " ".join(_argv(args)),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()}: {os.cpu_count()} cores, {platform.platform()}, shared "
        "with other work (see each step's machine_busy_pct and load_average_1m)",
        "endpoint": env.endpoint(),
        "code": code_version(),
        "evidence": "emulator CPU from /proc (MiniStack and its Lambda workers); "
        + (f"X-Ray subsegments on UDP {xray}" if xray else "no X-Ray (no port given)"),
        "options": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in vars(args).items()
            if k not in {"handler", "command"}
        },
        "steps": results,
        "bends": bends,
    }
    render(out, scale, console)
    return 0 if all(r["accounting_ok"] for r in results) else 1


def render(out: Path, scale: dict[str, Any], console: Any) -> None:
    """scale.json, the PNG plots (`<by>-<name>.png`) and scale.html, then the summary table."""
    (out / "scale.json").write_text(json.dumps(scale, indent=2, default=str) + "\n", "utf-8")
    images = plots(scale["by"], scale["steps"], scale["bends"])
    for name, png in images.items():
        (out / f"{scale['by']}-{name}.png").write_bytes(png)
    page = write_html(out, scale, images)
    show(console, scale)
    console.print(f"Written to {out}/ (scale.json, {page.name}, {len(images)} PNG plots)")


def replot(out: Path, console: Any) -> int:
    """Judge the bends and draw again from a sweep's scale.json (no emulator needed)."""
    scale = json.loads((out / "scale.json").read_text("utf-8"))
    steps = scale["steps"]
    scale["bends"] = size_bends(steps) if scale["by"] == "size" else rate_bends(steps)
    render(out, scale, console)
    return 0


def code_version() -> dict[str, Any]:
    """The checkout's commit and the functions' files that differ from it, when measured.

    What runs is what was last deployed (`inventory up`), which this cannot see: deploy just
    before a sweep for the two to agree.
    """
    import subprocess

    root = Path(__file__).resolve().parent.parent

    def git(*words: str) -> str:
        done = subprocess.run(
            ["git", *words], cwd=root, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "lambdas")
    return {"commit": git("rev-parse", "HEAD"), "lambdas_changed": changed.splitlines()}


def _argv(args: argparse.Namespace) -> list[str]:
    words = [f"--by {args.by}"]
    if args.by == "size":
        words += [f"--sizes {' '.join(map(str, args.sizes))}"]
    else:
        words += [f"--rates {' '.join(f'{r:g}' for r in args.rates)}", f"--rows {args.rows}"]
        words += [f"--step-seconds {args.step_seconds:g}"]
    return words


def _xray_port() -> int | None:
    from loadtests.scale_probes import xray_port

    return xray_port()


def sweep(
    args: argparse.Namespace, steps: list[Step], outputs: Any, out: Path, console: Any
) -> list[dict[str, Any]]:
    """Run the steps through the load runner, with a progress bar; stop when saturated."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from harness import env
    from harness.measure import SEED_FILES_PER_S
    from loadtests.runner import RunOptions, run
    from loadtests.scale_probes import TreeCpu, XRayCollector, call_split

    port = env.endpoint_port()
    try:
        pid: int | None = int(env.pid_file(port).read_text())
    except (OSError, ValueError):
        pid = None  # an emulator this project did not start: no CPU figures
    cpu = TreeCpu(pid)
    xray_port = args.xray_port or _xray_port()
    collector = None
    if xray_port:
        try:
            collector = XRayCollector(xray_port)
        except OSError as exc:
            console.print(f"[yellow]no X-Ray split:[/] cannot listen on UDP {xray_port}: {exc}")
    results: list[dict[str, Any]] = []
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(f"scale by {args.by}", total=len(steps))
            for index, step in enumerate(steps):
                if step.by == "size":
                    rate = pace(step.rows, results, args.max_rate, args.headroom)
                    step = replace(step, rate=rate)
                progress.update(
                    task,
                    description=f"step {index + 1}: {step.files} files x {step.rows:,} rows "
                    f"at {step.rate:.3g} files/s",
                )
                if collector is not None:
                    collector.take()  # what came before the step (another step's tail)
                options = RunOptions(
                    shape="steady", duration_s=step.duration_s,
                    speedup=step.rate / SEED_FILES_PER_S, rows=step.rows, seed=args.seed + index,
                    reports=out, label=f"{step.by}-{step.x:g}", files=step.files,
                )  # fmt: skip
                cpu.start()
                run_dir = run(options, outputs, console)
                figures = cpu.stop()
                summary = json.loads((run_dir / "summary.json").read_text("utf-8"))
                records = _records(run_dir)
                first = min((r["started_at"] for r in records), default=0.0)
                split = call_split(collector.take(), since=first) if collector else None
                result = step_result(
                    step, summary, run_dir.name, records=records, cpu=figures, split=split,
                    cost=cost_per_1000(summary, args.files_per_day),
                )  # fmt: skip
                results.append(result)
                progress.advance(task)
                if step.by == "rate":
                    reason = saturation(
                        result, results[0], stop_factor=args.stop_factor, min_share=args.min_share
                    )
                    if reason:
                        result["saturated"] = reason
                        console.print(f"[yellow]saturated at {step.rate:g} files/s:[/] {reason}")
                        break
    finally:
        if collector is not None:
            collector.close()
    return results


def _records(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "files.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


def show(console: Any, scale: Mapping[str, Any]) -> None:
    """The steps as a table, and where the curve bends."""
    from rich.table import Table

    by = scale["by"]
    table = Table(title=f"{scale['id']}: scaling by {by}")
    names = (
        "rows" if by == "size" else "offered/s", "files", "achieved/s",
        "ingest p50/p95/p99 ms", "loader p50/p95 ms", "emulator CPU %", "$/1k files",
    )  # fmt: skip
    for name in names:
        table.add_column(name, justify="right")
    for r in scale["steps"]:
        cost = (r.get("cost") or {}).get("usd_per_1000_files")
        table.add_row(
            f"{r['x']:,g}", f"{r['files_ingested']}/{r['files_planned']}",
            f"{r['achieved_files_per_s']:g}", "{p50} / {p95} / {p99}".format(**r["ingest_ms"]),
            "{p50} / {p95}".format(**r["loader_ms"]),
            str((r.get("emulator") or {}).get("emulator_pct_of_one_core", "")),
            f"{cost:.4f}" if cost is not None else "",
        )  # fmt: skip
    console.print(table)
    console.print("bends:", json.dumps(scale["bends"], default=str))
