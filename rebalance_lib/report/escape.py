"""Values from the data, escaped for where they go: a Markdown page, the SVG chart, the console.

Labels, strata and split values, column and table names come from the user's table and may
hold anything: a pipe that adds a column to a Markdown table, a newline that splits its row,
HTML that a notebook or wiki renders live, a terminal escape that clears the user's screen.
Each passes through here on its way out, and this module alone decides how. JSON needs
nothing of it: its encoder escapes every control character and quote.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

# C0 and C1 controls, DEL, the Unicode line separators and the bidirectional overrides that
# reorder what a terminal or a page shows.
_CONTROL = "\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_ANY_CONTROL = re.compile(f"[{_CONTROL}]")
_CONTROL_BUT_LAYOUT = re.compile(f"(?![\n\t])[{_CONTROL}]")  # keeps a page's lines and tabs
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Markdown's inline syntax and table cells' pipes: backslash escapes (CommonMark); HTML's own
# three as entities, which every renderer reads as text.
_MARKDOWN = str.maketrans(
    {
        **{char: "\\" + char for char in "\\`*_[]~|"},
        "<": "&lt;",
        ">": "&gt;",
        "&": "&amp;",
    }
)


def _shown(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    )


def one_line(value: object) -> str:
    """``value`` as one line of text: every control character shown as its escape.

    Example:
        >>> one_line("a\\nb\\x1b[2J")
        'a\\\\nb\\\\x1b[2J'
    """
    return _ANY_CONTROL.sub(_shown, str(value))


def console(text: str) -> str:
    """Text for the terminal: its lines and tabs kept, every other control character shown
    as its escape, so that nothing the data holds moves the cursor or clears the screen."""
    return _CONTROL_BUT_LAYOUT.sub(_shown, text)


def markdown_text(value: object) -> str:
    """``value`` as Markdown text, in a paragraph, list item or table cell: shown as it is,
    on one line, never as markup, HTML or a cell boundary.

    Example:
        >>> markdown_text("a|b <img src=x>")
        'a\\\\|b &lt;img src=x&gt;'
    """
    return one_line(str(value).translate(_MARKDOWN))


def markdown_code(value: object) -> str:
    """``value`` as a Markdown code span (not in a table): fenced by more backticks than it
    holds in a row, on one line.

    Example:
        >>> markdown_code("a`b")
        '``a`b``'
    """
    text = one_line(value)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def svg_text(value: object) -> str:
    """``value`` as the text of an SVG element: XML has no escape for most controls."""
    return escape(one_line(value))


def svg_attribute(value: object) -> str:
    """``value`` as a quoted SVG attribute."""
    return quoteattr(one_line(value))
