"""svmlp's XML escaping is the standard library's (saxutils), without its import cost."""

from __future__ import annotations

from xml.sax.saxutils import escape as sax_escape
from xml.sax.saxutils import quoteattr as sax_quoteattr

from hypothesis import given
from hypothesis import strategies as st

from svmlp.formats._xmltext import escape, quoteattr

TEXT = st.text(alphabet=st.sampled_from(list("ab&<>\"'\n\r\t é\x00;#")), max_size=12) | st.text(max_size=12)


@given(TEXT)
def test_same_as_saxutils(text: str) -> None:
    assert escape(text) == sax_escape(text)
    assert quoteattr(text) == sax_quoteattr(text)
