"""The tables of the project's Markdown files, for tests that hold documentation to the code.

A document that restates a fact the code owns (a default, a port, an alert's threshold) drifts as
soon as the code changes; these helpers let a test read the document's table and compare it with
the source. Tables are parsed with markdown-it-py (GitHub-flavoured tables), so escaped pipes and
inline code are read as GitHub renders them.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

_PARSER = MarkdownIt("commonmark").enable("table")


@dataclass(frozen=True)
class Table:
    """One Markdown table: its header cells, its rows (cell source text), the heading above it."""

    path: Path
    heading: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def column(self, name: str) -> list[str]:
        """The cells of the column whose header is `name`."""
        index = self.header.index(name)
        return [row[index] for row in self.rows]

    def records(self) -> list[dict[str, str]]:
        """Each row as {header: cell}."""
        return [dict(zip(self.header, row, strict=True)) for row in self.rows]


def tables(path: Path) -> list[Table]:
    """Every table of a Markdown file, in order."""
    found: list[Table] = []
    heading = ""
    tokens = _PARSER.parse(path.read_text(encoding="utf-8"))
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type == "heading_open":
            heading = tokens[index + 1].content
        if token.type == "table_open":
            header: list[str] = []
            rows: list[list[str]] = []
            while tokens[index].type != "table_close":
                kind = tokens[index].type
                if kind == "tr_open":
                    rows.append([])
                elif kind == "inline":
                    rows[-1].append(tokens[index].content.strip())
                elif kind == "thead_close":
                    header = rows.pop()
                index += 1
            found.append(Table(path, heading, tuple(header), tuple(tuple(row) for row in rows)))
        index += 1
    return found


def table(path: Path, *header: str) -> Table:
    """The one table of `path` whose header starts with these cells."""
    matching = [found for found in tables(path) if found.header[: len(header)] == header]
    assert len(matching) == 1, f"{path.name}: {len(matching)} tables have the header {header}"
    return matching[0]


def code_spans(text: str) -> list[str]:
    """The `inline code` of a cell or a sentence, in order."""
    return re.findall(r"`([^`]+)`", text)
