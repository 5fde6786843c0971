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
