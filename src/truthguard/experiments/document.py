"""Reports as one list of blocks (headings, paragraphs, tables, figures) written twice: ``report.md`` and a
self-contained ``report.html``, so the two say the same thing. The HTML embeds its figures (base64 PNG), so
it can be mailed or archived as one file."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from truthguard.core.output import open_output

__all__ = ["Block", "write_document"]


@dataclass(frozen=True)
class Block:
    """One piece of a report: ``kind`` is ``"h2"`` or ``"p"`` (with ``text``), ``"table"`` (with ``table``)
    or ``"figure"`` (a PNG at ``path``, captioned ``text``)."""

    kind: str
    text: str = ""
    table: pd.DataFrame | None = None
    path: Path | None = None


def write_document(blocks: list[Block], folder: Path, title: str) -> tuple[Path, Path]:
    """Write ``blocks`` as ``folder/report.md`` and ``folder/report.html`` (atomically), headed ``title``;
    figure paths are written relative to ``folder``. Returns the two paths."""
    paths = (folder / "report.md", folder / "report.html")
    for path, text in zip(paths, (_markdown(blocks, folder, title), _html(blocks, title)), strict=True):
        with open_output(path) as stream:
            stream.write(text.encode("utf-8"))
    return paths


def _markdown(blocks: list[Block], folder: Path, title: str) -> str:
    lines = [f"# {title}", ""]
    for block in blocks:
        if block.kind == "h2":
            lines += [f"## {block.text}", ""]
        elif block.kind == "p":
            lines += [block.text, ""]
        elif block.kind == "table" and block.table is not None:
            frame = block.table
            lines.append("| " + " | ".join(map(str, frame.columns)) + " |")
            lines.append("|" + "---|" * len(frame.columns))
            for row in frame.itertuples(index=False):
                lines.append("| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |")
            lines.append("")
        elif block.kind == "figure" and block.path is not None:
            lines += [f"![{block.text}]({block.path.relative_to(folder).as_posix()})", ""]
    return "\n".join(lines)


def _html(blocks: list[Block], title: str) -> str:
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}: TruthGuard</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
        "img{max-width:100%}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]  # fmt: skip
    for block in blocks:
        if block.kind == "h2":
            parts.append(f"<h2>{html.escape(block.text)}</h2>")
        elif block.kind == "p":
            parts.append(f"<p>{html.escape(block.text)}</p>")
        elif block.kind == "table" and block.table is not None:
            parts.append(block.table.to_html(index=False, na_rep="", border=0))
        elif block.kind == "figure" and block.path is not None:
            data = base64.b64encode(block.path.read_bytes()).decode("ascii")
            parts.append(f'<figure><img alt="{html.escape(block.text)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{html.escape(block.text)}</figcaption></figure>")  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
