"""`gan report`: one self-contained page about a run that a person understands in a minute.

report.html embeds every picture (base64), so it can be mailed or attached as one file;
report.md is its twin for code review, linking the same pictures by relative path.
"""

from __future__ import annotations

import base64
import html
import json
import platform
from pathlib import Path

from gan.atomic import write_text
from gan.bench.report import load_json
from gan.bench.report import markdown_table as bench_markdown
from gan.checkpoint import CHECKPOINT_JSON
from gan.errors import GanError
from gan.export.manifest import read_manifest
from gan.export.parity import Comparison
from gan.export.parity import markdown_table as parity_markdown
from gan.report_tables import quality_markdown

STYLE = " ".join(
    [
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}",
        "table{border-collapse:collapse;font-size:13px;margin:.5em 0}",
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}",
        "td:first-child,th:first-child{text-align:left}",
        "img{max-width:100%;image-rendering:pixelated;margin:4px}",
        ".row{display:flex;gap:1em;flex-wrap:wrap;align-items:flex-start}",
        "figure{margin:0} figcaption{font-size:12px;color:#555} .note{color:#555;font-size:13px}",
    ]
)


def _json(path: Path, what: str) -> dict:
    """A JSON file the report reads, or one line saying which one is unreadable."""
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        raise GanError(f"{path} is missing; {what}") from None
    except (OSError, ValueError) as error:
        raise GanError(f"{path} is unreadable ({type(error).__name__}); {what}") from None
    if not isinstance(value, dict):
        raise GanError(f"{path} is not a JSON object; {what}")
    return value


def write_report(run_dir: Path) -> tuple[Path, Path]:
    run_dir = Path(run_dir)
    if not (run_dir / CHECKPOINT_JSON).exists():
        raise GanError(f"{run_dir} has no checkpoint ({CHECKPOINT_JSON}); is it a run dir of gan train?")
    try:
        sections = _sections(run_dir)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise GanError(
            f"a file in {run_dir} that the report reads is malformed ({type(error).__name__}: {error}); "
            "re-run the command that wrote it"
        ) from None
    markdown = "\n\n".join(f"## {title}\n\n{body}" for title, body, _ in sections)
    config = _json(run_dir / "config.json", "re-run gan train or gan import")
    trained = "imported weights" if "imported" in config else f"on {config['dataset']}"
    title = f"GAN report: {config['arch']} {trained}, {run_dir.name}"
    write_text(run_dir / "report.md", f"# {title}\n\n{markdown}\n")
    body = "\n".join(f"<section><h2>{html.escape(t)}</h2>{h}</section>" for t, _, h in sections)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    write_text(run_dir / "report.html", page)
    return run_dir / "report.html", run_dir / "report.md"


def _sections(run_dir: Path) -> list[tuple[str, str, str]]:
    config = _json(run_dir / "config.json", "re-run gan train or gan import")
    sections = [("Configuration", _kv_markdown(config), _kv_html(config))]
    grids = [("real_samples.png", "real images")] if (run_dir / "real_samples.png").exists() else []
    frames = sorted((run_dir / "samples").glob("epoch_*.png"))
    if frames:
        grids.append((f"samples/{frames[-1].name}", f"fixed noise after {frames[-1].stem.replace('_', ' ')}"))
    if (run_dir / "progress.gif").exists():
        grids.append(("progress.gif", "fixed noise, epoch by epoch"))
    sections.append(("Samples", " ".join(f"![{c}]({p})" for p, c in grids), _figures(run_dir, grids)))
    if (run_dir / "losses.png").exists():
        sections.append(
            ("Losses", "![losses](losses.png)", _figures(run_dir, [("losses.png", "per step and smoothed")]))
        )
    eval_path = run_dir / "eval.json"
    if eval_path.exists():
        result = _json(eval_path, "re-run gan eval")
        text = quality_markdown([result]) + (
            f"\n\nFCD is the Fréchet distance in the penultimate features of a classifier trained here "
            f"({result['classifier']['test_accuracy']:.1%} test accuracy); it is not comparable to "
            f"published Inception-FID. The floor is real train vs real test images at the same n. "
            f"Predicted class shares: {result['generated']['class_histogram']}."
        )
        sections.append(("Quality", text, _markdown_table_html(text)))
    else:
        sections.append(
            (
                "Quality",
                f"not measured yet: `gan eval {run_dir}`",
                _note(f"not measured yet: gan eval {run_dir}"),
            )
        )
    manifest_path = run_dir / "export" / "manifest.json"
    if manifest_path.exists():
        manifest = read_manifest(manifest_path.parent)  # hash-checked, like every other reader
        rows = [Comparison(**c) for c in manifest.get("parity", [])]
        text = (
            f"Exporter {manifest['exporter']}, opset {manifest['opset']}; rule: fail only if |a-b| > atol "
            f"and rel > rtol (CPU atol 1e-5, rtol 1e-4).\n\n" + parity_markdown(rows)
        )
        figure = _figures(run_dir, [("export/parity_grid.png", "fixed-noise grid through every backend")])
        sections.append(
            (
                "Export parity",
                text + "\n\n![parity grid](export/parity_grid.png)",
                _markdown_table_html(text) + figure,
            )
        )
    else:
        sections.append(
            (
                "Export parity",
                f"not exported yet: `gan export {run_dir}`",
                _note(f"not exported yet: gan export {run_dir}"),
            )
        )
    bench_path = run_dir / "bench.json"
    if bench_path.exists():
        bench = load_json(bench_path)
        text = bench_markdown(bench)
        figure = (
            _figures(run_dir, [("bench.png", "throughput by backend")])
            if (run_dir / "bench.png").exists()
            else ""
        )
        sections.append(("Benchmark", text, _markdown_table_html(text) + figure))
    environment = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": config.get("torch"),
        "training device": config.get("device"),
    }
    if manifest_path.exists():
        environment |= {f"export {k}": v for k, v in manifest.get("versions", {}).items()}
    if bench_path.exists():
        env = bench["environment"]
        environment |= {
            "bench device": env["device_name"],
            "matmul peak GFLOP/s": f"{env['matmul_peak']['gflops']:.0f}",
        }
    sections.append(("Environment", _kv_markdown(environment), _kv_html(environment)))
    return sections


def _kv_markdown(values: dict) -> str:
    return "| setting | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in values.items())


def _kv_html(values: dict) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in values.items()
    )
    return f"<table>{rows}</table>"


def _markdown_table_html(text: str) -> str:
    """Turns the Markdown tables (and paragraphs) we generate into HTML."""
    out, rows = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            if not set(line.replace("|", "").strip()) <= set("-: "):
                rows.append([html.escape(c.strip()) for c in line.strip("|").split("|")])
            continue
        if rows:
            head, *body = rows
            out.append(
                "<table><tr>"
                + "".join(f"<th>{c}</th>" for c in head)
                + "</tr>"
                + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body)
                + "</table>"
            )
            rows = []
        if line.strip() and not line.startswith("!["):
            out.append(f"<p class='note'>{html.escape(line)}</p>")
    return "".join(out)


def _figures(run_dir: Path, items: list[tuple[str, str]]) -> str:
    figures = []
    for relative, caption in items:
        path = run_dir / relative
        if not path.exists():
            continue
        mime = "image/gif" if path.suffix == ".gif" else "image/png"
        data = base64.b64encode(path.read_bytes()).decode()
        figures.append(
            f"<figure><img src='data:{mime};base64,{data}' alt='{html.escape(caption)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    return f"<div class='row'>{''.join(figures)}</div>"


def _note(text: str) -> str:
    return f"<p class='note'>{html.escape(text)}</p>"
