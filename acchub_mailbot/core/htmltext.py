"""HTML fragments -> the lines of text a reader sees.

Business Central writes its email as an HTML fragment whose line breaks are the non-standard
``</br>``; forwarding clients rewrite it into paragraphs and ``<br>``. Detection works on lines
(the company name is "the last line before the link"), so every block element and line break
becomes a newline here, and invisible content (style, script, head) is dropped.
"""

from __future__ import annotations

from html.parser import HTMLParser

#: Elements that start and end a line of their own.
BLOCK_TAGS = frozenset(
    {
        "p", "div", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
        "blockquote", "hr", "pre", "section", "article", "header", "footer", "dt", "dd",
    }
)  # fmt: skip
#: Elements whose content is never shown.
HIDDEN_TAGS = frozenset({"style", "script", "head", "title", "xml", "template"})


class _TextCollector(HTMLParser):
    """Collects visible text; a line break for ``<br>``, ``</br>`` and block boundaries."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HIDDEN_TAGS:
            self.hidden += 1
        elif tag == "br" or tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "br" or tag in BLOCK_TAGS:
            # ``</br>`` is how Business Central breaks lines; browsers treat it as ``<br>``.
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            # Source newlines inside HTML are just whitespace to a reader.
            self.parts.append(data.replace("\r", " ").replace("\n", " "))


def html_to_text(html: str) -> str:
    """Visible text of ``html``, one output line per rendered line; never raises."""
    if not html:
        return ""
    collector = _TextCollector()
    try:
        collector.feed(html)
        collector.close()
    except Exception:  # noqa: S110 - html.parser rarely fails, but hostile input must not crash us
        pass
    text = "".join(collector.parts).replace("\xa0", " ")
    return "\n".join(line.strip() for line in text.split("\n"))


__all__ = ["html_to_text"]
