"""The joint revenue-meeting brief's faces: a self-contained HTML page with charts, and Markdown.

Both render the plain data `truce.services.brief.build_brief` returns, and nothing else: the
numbers are the same in both. The HTML inlines plotly.js once and fetches nothing.
"""

from truce.brief.render import render_html, render_markdown

__all__ = ["render_html", "render_markdown"]
