"""The report's Markdown as one self-contained HTML page: tables, notes, and every picture embedded
(base64), so the page can be mailed or attached as one file."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

STYLE = " ".join(
    [
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}",
        "table{border-collapse:collapse;font-size:13px;margin:.5em 0}",
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}",
        "td:first-child,th:first-child{text-align:left}",
        "img{max-width:100%;image-rendering:pixelated;margin:4px}",
        ".row{display:flex;gap:1em;flex-wrap:wrap;align-items:flex-start}",
        "figure{margin:0} figcaption{font-size:12px;color:#555} .note{color:#555;font-size:13px}",
        ".fail{color:#c00;font-weight:bold}",
    ]
)
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]+)\)")


def page(title: str, sections: list[tuple[str, str]], base: Path) -> str:
    """`sections` are (heading, Markdown); pictures are read relative to `base`."""
    body = "\n".join(
        f"<section><h2>{html.escape(heading)}</h2>{markdown_to_html(text, base)}</section>"
        for heading, text in sections
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def markdown_to_html(text: str, base: Path) -> str:
    """The Markdown the report writes: tables, lines of pictures, and plain paragraphs."""
    out, rows = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            if not set(line.replace("|", "").strip()) <= set("-: "):  # skip the |---| rule
                rows.append([c.strip() for c in line.strip("|").split("|")])
            continue
        if rows:
            out.append(_table(rows))
            rows = []
        if IMAGE.search(line) and not IMAGE.sub("", line).strip():
            out.append(_figures(IMAGE.findall(line), base))
        elif line.strip():
            out.append(f"<p class='note'>{_inline(line)}</p>")
    return "".join(out)


def _table(rows: list[list[str]]) -> str:
    head, *body = rows
    header = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>"
    lines = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table>{header}{lines}</table>"


def _cell(text: str) -> str:
    return f"<span class='fail'>{html.escape(text)}</span>" if text.startswith("FAIL") else _inline(text)


def _inline(text: str) -> str:
    """`code` spans; everything else escaped."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _figures(images: list[tuple[str, str]], base: Path) -> str:
    figures = []
    for caption, relative in images:
        path = base / relative
        if not path.is_file():
            continue
        mime = "image/gif" if path.suffix == ".gif" else "image/png"
        data = base64.b64encode(path.read_bytes()).decode()
        figures.append(
            f"<figure><img src='data:{mime};base64,{data}' alt='{html.escape(caption)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    return f"<div class='row'>{''.join(figures)}</div>"
