import pytest

from probe_agent.render.csvout import escape_cell, to_csv
from probe_agent.render.markdown import md_table
from probe_agent.render.table import format_table


def test_csv_escapes_formulas_but_not_numbers() -> None:
    assert escape_cell('=HYPERLINK("http://evil")') == '\'=HYPERLINK("http://evil")'
    assert escape_cell("+1+1") == "'+1+1"
    assert escape_cell("@SUM(A1)") == "'@SUM(A1)"
    assert escape_cell("-5") == "-5"
    assert escape_cell(-5) == "-5"
    assert escape_cell(99.9) == "99.9"
    assert escape_cell(None) == ""
    assert escape_cell(True) == "true"
    text = to_csv(["a", "b"], [["=1", 'quote"d'], [1, None]])
    assert text == 'a,b\r\n\'=1,"quote""d"\r\n1,\r\n'  # CRLF records (RFC 4180)


def test_markdown_escapes_pipes() -> None:
    out = md_table(["x", "n"], [["a|b", 3]], right=(1,))
    assert out.splitlines() == ["| x | n |", "| --- | ---: |", "| a\\|b | 3 |"]


def test_table_alignment() -> None:
    out = format_table(["ID", "N"], [["a", 1], ["bbb", 22]], right=(1,))
    assert out.splitlines() == ["ID    N", "---  --", "a     1", "bbb  22"]


@pytest.mark.fault("<script> in a customer name, Markdown report", expected="entities, no tag anywhere")
def test_markdown_report_passes_no_markup_from_stored_text() -> None:
    """Customer names, exclusion reasons, labels and warnings are text: a Markdown renderer passes raw HTML
    through, so `<script>` in a customer name must come out as entities, in tables and in plain lines alike."""
    from probe_agent.render.report import report_markdown
    from tests.render.test_html import month_doc

    out = report_markdown(month_doc())
    assert "<" not in out and ">" not in out.replace("---:", "")  # no tag, anywhere
    assert "Müller &amp; &lt;b&gt;Söhne&lt;/b&gt;" in out
    assert "&lt;script&gt;alert(" in out
    assert "endpoint &lt;img src=x onerror=alert(2)&gt; has no data" in out  # a warning line, not a table cell
    assert md_table(["a"], [["x\r=1"]]).splitlines()[-1] == "| x =1 |"  # a CR cannot start a new line either
