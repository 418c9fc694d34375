"""XML text and attribute escaping, as ``xml.sax.saxutils`` does it, without importing it
(``saxutils`` imports ``urllib.request``, and with it ``http`` and ``email``: 14 ms of start-up
for every command, since the format registry imports the XML writers to sniff)."""

from __future__ import annotations

__all__ = ["escape", "quoteattr"]

_ATTRIBUTE = {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def escape(text: str) -> str:
    """``&``, ``<`` and ``>`` as entities.

    >>> escape("a < b & c")
    'a &lt; b &amp; c'
    """
    return text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")


def quoteattr(text: str) -> str:
    """An attribute value, quoted: escaped, line breaks and tabs as character references, in
    double quotes unless it holds a double quote and no single one.

    >>> quoteattr('say "hi"\\n')
    '\\'say "hi"&#10;\\''
    """
    text = escape(text)
    for char, ref in _ATTRIBUTE.items():
        text = text.replace(char, ref)
    if '"' not in text:
        return f'"{text}"'
    if "'" not in text:
        return f"'{text}'"
    return '"{}"'.format(text.replace('"', "&quot;"))
