"""The page_range option parsed and resolved, and the pages a request may read (MAX_PAGES)."""

from __future__ import annotations

import pytest

from mdso_sidecar.errors import BadOption, TooManyPages
from mdso_sidecar.page_range import parse_page_range, select_pages


def test_page_range_parsing() -> None:
    assert parse_page_range("1-3,7").resolve(10) == [1, 2, 3, 7]
    assert parse_page_range("5-").resolve(7) == [5, 6, 7]
    assert parse_page_range(" 2 , 1-2 ").resolve(2) == [1, 2]
    for bad in ["", "0", "3-1", "a", "1-2-3", "1,,2", "-3"]:
        with pytest.raises(BadOption):
            parse_page_range(bad)
    with pytest.raises(BadOption, match="has 2 pages"):
        parse_page_range("1-3").resolve(2)
    with pytest.raises(BadOption, match="has 2 pages"):
        parse_page_range("3-").resolve(2)
    # Numbers too long for int() (over 4300 digits) are past the end, not an internal error.
    for huge in ["9" * 5000, "1-" + "9" * 5000, "99999999999"]:
        with pytest.raises(BadOption, match="has 2 pages"):
            parse_page_range(huge).resolve(2)
    assert parse_page_range("0" * 5000 + "2").resolve(2) == [2]
    assert parse_page_range(" 1 - 2 , 2 -  ").resolve(3) == [1, 2, 3]
    # Runs of spaces that a backtracking pattern splits many ways: refused at once, whatever the length.
    for adversarial in ["1-" + " " * 5000 + "x", "1" + " " * 5000 + "-" + " " * 5000 + "-", "1 2"]:
        with pytest.raises(BadOption):
            parse_page_range(adversarial)


def test_too_many_pages() -> None:
    assert select_pages(300, parse_page_range("1-5"), max_pages=200) == [1, 2, 3, 4, 5]
    with pytest.raises(TooManyPages):
        select_pages(201, None, max_pages=200)
