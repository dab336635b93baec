"""How results read as table rows, from the JSON the commands write: parity rows (manifest.json)
and bench rows (bench.json). The terminal tables of `gan export`/`verify`/`bench` and the Markdown
of `gan report` use these, so a number reads the same everywhere."""

from __future__ import annotations

from collections.abc import Iterable

# The models a comparison or a bench row is about.
MODEL_LABELS = {"generator": "G", "discriminator": "D", "chain": "D(G(z))"}


def model_label(case: str) -> str:
    """The short name of a parity case: "generator" is "G"; "chain@48x48" (at one size of a
    fully convolutional G) is "D(G(z))@48x48"."""
    model, _, size = case.partition("@")
    return MODEL_LABELS.get(model, model) + (f"@{size}" if size else "")


# A bench row that did not run, in a few letters; its reason goes into a numbered note.
SHORT_STATUS = {
    "n/a": "n/a",
    "unavailable": "unavail.",
    "unsupported": "unsupp.",
    "error": "ERROR",
    "skipped": "skipped",
}
# (header, field, format) of a bench row; the wide ones appear with `gan bench --wide`.
BENCH_COLUMNS = (
    ("median ms", "median_ms", "{:.4f}"),
    ("samples/s", "throughput_per_s", "{:,.0f}"),
    ("vs eager", "speedup_vs_eager", "{:.2f}x"),
    ("% peak", "pct_of_peak", "{:.1f}%"),
)
# What a loaded model costs, each backend measured in a fresh process (gan bench's second table).
MEMORY_COLUMNS = (
    ("load ms", "load_ms", "{:.1f}"),
    ("1st ms", "first_call_ms", "{:.1f}"),
    ("RSS MB", "rss_mb", "{:.1f}"),
    ("peak MB", "peak_rss_mb", "{:.1f}"),
    ("file MB", "artifact_mb", "{:.2f}"),
)
CUDA_MEMORY_COLUMNS = (
    ("alloc MB", "max_memory_allocated_mb", "{:.1f}"),
    ("reserved MB", "max_memory_reserved_mb", "{:.1f}"),
)
# The server scenario: concurrent callers of G.
SERVER_COLUMNS = (
    ("callers", "concurrency", "{}"),
    ("p50 ms", "median_ms", "{:.4f}"),
    ("p99 ms", "p99_ms", "{:.4f}"),
    ("samples/s", "throughput_per_s", "{:,.0f}"),
    ("peak MB", "peak_rss_mb", "{:.1f}"),
)
WIDE_BENCH_COLUMNS = (
    ("p90 ms", "p90_ms", "{:.4f}"),
    ("p99 ms", "p99_ms", "{:.4f}"),
    ("IQR ms", "iqr_ms", "{:.4f}"),
    ("GFLOP/s", "gflops", "{:.1f}"),
    ("1st ms", "first_call_ms", "{:.1f}"),
)


def cell(row: dict, field: str, fmt: str) -> str:
    if field == "pct_of_peak" and row.get("peak_under_measured"):
        return ">100%*"  # the legend says why this is not a figure
    value = row.get(field)
    return "" if value is None else fmt.format(value)


def numbered_notes(reasons: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    """Each distinct reason once, numbered, so that every table row stays on one line."""
    numbers: dict[str, int] = {}
    for reason in reasons:
        numbers.setdefault(reason, len(numbers) + 1)
    return numbers, [f"[{n}] {reason}" for reason, n in numbers.items()]


def timing_columns(rows: list[dict]) -> tuple:
    """The server scenario's columns when the rows are its, else the loop's."""
    return SERVER_COLUMNS if any(r.get("concurrency") for r in rows) else BENCH_COLUMNS


def memory_columns(rows: list[dict]) -> tuple:
    """The memory and load columns that any row has a figure for (none from a bench run in one
    process, or from a results file of format 1)."""
    columns = MEMORY_COLUMNS + CUDA_MEMORY_COLUMNS
    return tuple(c for c in columns if any(r.get(c[1]) is not None for r in rows if r["status"] == "ok"))


def bench_markdown(rows: list[dict]) -> str:
    numbers, notes = numbered_notes(r["reason"] for r in rows if r["status"] != "ok")
    timing = timing_columns(rows)
    columns = timing + tuple(c for c in memory_columns(rows) if c not in timing)
    lines = [
        "| workload | backend | batch | status | " + " | ".join(h for h, _, _ in columns) + " |",
        "|---|---|---:|---|" + "---:|" * len(columns),
    ]
    for r in rows:
        if r["status"] != "ok":
            cells = [f"{SHORT_STATUS[r['status']]} [{numbers[r['reason']]}]"] + [""] * len(columns)
        else:
            status = "ok" + (" (noisy)" if r.get("noisy") else "")
            cells = [status] + [cell(r, field, fmt) for _, field, fmt in columns]
        lines.append(f"| {r['workload']} | {r['backend']} | {r['batch_size']} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ([""] + notes if notes else []))


def parity_markdown(rows: list[dict]) -> str:
    lines = [
        "| model | backend | device | batch | max abs | median abs | max rel | min atol to pass | result |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        errors = (r[key] for key in ("max_abs", "median_abs", "max_rel", "min_passing_atol"))
        cells = [model_label(r["model"]), r["backend"], r["device"], str(r["batch"])]
        verdict = "pass" if r["passed"] else "FAIL"
        cells += [f"{e:.1e}" for e in errors] + [
            verdict + (" (distribution)" if r.get("check") == "distribution" else "")
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def settings_markdown(values: dict) -> str:
    return "| setting | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in values.items())


def trade_off_markdown(costs: dict[str, dict], bench_rows: list[dict]) -> str:
    """One row per measured precision: FCD against fp32's on the same z, mean PSNR against fp32's
    images, D's flipped decisions, the gate, and the fastest forward G of that precision in the
    bench against the fastest fp32 one (at the largest batch benched)."""
    forward = [r for r in bench_rows if r["workload"] == "forward G" and r["status"] == "ok"]
    batch = max((r["batch_size"] for r in forward), default=None)
    fastest: dict[str, dict] = {}
    for r in forward:
        if r["batch_size"] == batch:
            precision = r.get("precision", "fp32")
            if precision not in fastest or r["throughput_per_s"] > fastest[precision]["throughput_per_s"]:
                fastest[precision] = r
    lines = [
        f"| precision | FCD | fp32 FCD | change | mean PSNR vs fp32 | D flips (real / generated) "
        f"| gate | fastest forward G (batch {batch}) | vs fastest fp32 |",
        "|---|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    for precision, measured in costs.items():
        cost = measured["cost"]
        flips = cost.get("discriminator_flips")
        row, base = fastest.get(precision), fastest.get("fp32")
        speed = f"{row['throughput_per_s'] / base['throughput_per_s']:.2f}x" if row and base else ""
        flipped = f"{flips['real']:.2%} / {flips['generated']:.2%}" if flips else ""
        lines.append(
            f"| {precision} | {cost['fcd']:.2f} | {cost['fcd_fp32']:.2f} | {cost['fcd_increase_pct']:+.2f}% "
            f"| {cost['mean_psnr_db_vs_fp32']:.1f} dB "
            f"| {flipped} "
            f"| {'pass' if cost['passed'] else 'FAIL'} (≤ {cost['max_fcd_increase_pct']:g}%) "
            f"| {row['backend'] if row else 'not benched'} | {speed} |"
        )
    return "\n".join(lines) + (
        f"\n\nMeasured with `gan eval --precision` on {next(iter(costs.values()))['n']} images; "
        "a variant's file gives the same images on every runtime that reads it."
    )
