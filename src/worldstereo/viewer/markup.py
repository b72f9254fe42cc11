"""A report as a list of blocks, rendered to Markdown and to standalone HTML from the same content.

Blocks are tuples: ``("h1"|"h2", text)``, ``("p", text)``, ``("list", [text])``,
``("table", headers, rows)``, ``("image", relpath, caption)``, ``("code", text)``. Writing both
formats from one structure keeps them in step without a Markdown library.
"""

from __future__ import annotations

import html
from typing import Any, Sequence

Block = tuple

_CSS = """body{font:14px/1.5 system-ui,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f2f2f2}img{max-width:100%;border:1px solid #ddd}figure{margin:12px 0}figcaption{color:#555}
pre{background:#f6f6f6;padding:8px;overflow:auto}"""


def fmt(value: Any) -> str:
    """A table cell: floats to 4 significant digits, None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _md_cell(value: Any) -> str:
    return fmt(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: Sequence[Block]) -> str:
    out = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2"):
            out.append(("#" if kind == "h1" else "##") + " " + b[1])
        elif kind == "p":
            out.append(b[1])
        elif kind == "list":
            out.append("\n".join(f"- {item}" for item in b[1]))
        elif kind == "table":
            headers, rows = b[1], b[2]
            lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
            lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
            out.append("\n".join(lines))
        elif kind == "image":
            out.append(f"![{b[2]}]({b[1]})\n\n*{b[2]}*")
        elif kind == "code":
            out.append("```\n" + b[1] + "\n```")
        else:
            raise ValueError(f"markup: unknown block kind {kind!r}")
    return "\n\n".join(out) + "\n"


def to_html(blocks: Sequence[Block], title: str) -> str:
    e = html.escape
    out = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(title)}</title>"
           f"<style>{_CSS}</style></head><body>"]
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2"):
            out.append(f"<{kind}>{e(b[1])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{e(b[1])}</p>")
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{e(str(i))}</li>" for i in b[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{e(h)}</th>" for h in b[1])
            body = "".join("<tr>" + "".join(f"<td>{e(fmt(v))}</td>" for v in row) + "</tr>" for row in b[2])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "image":
            out.append(f"<figure><img src=\"{e(b[1])}\" alt=\"{e(b[2])}\"><figcaption>{e(b[2])}</figcaption></figure>")
        elif kind == "code":
            out.append(f"<pre>{e(b[1])}</pre>")
        else:
            raise ValueError(f"markup: unknown block kind {kind!r}")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
