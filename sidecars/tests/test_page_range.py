"""The page_range option parsed and resolved, and the pages a request may read (MAX_PAGES)."""

from __future__ import annotations

import pytest

from mdso_sidecar.errors import BadOption, TooManyPages
from mdso_sidecar.page_range import PAGE_RANGE_PATTERN, parse_page_range, select_pages, take_page_range


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


def test_only_the_characters_of_a_range() -> None:
    # What the gateway checks before it forwards a range (the contract's pattern), checked here first
    # too: Unicode digits, tabs and newlines never reach the grammar.
    assert PAGE_RANGE_PATTERN == "^[0-9 ,-]+$"
    for bad in ["\u0663", "1\t-2", "1\n", "1;2"]:
        with pytest.raises(BadOption, match="page_range must look like 1-3,7"):
            parse_page_range(bad)


def test_taken_under_either_name() -> None:
    params = {"pages": "2-", "lang": "fra"}
    taken = take_page_range(params)
    assert taken is not None and (taken.option, taken.resolve(3)) == ("pages", [2, 3])
    assert params == {"lang": "fra"}
    assert take_page_range({"lang": "fra"}) is None
    with pytest.raises(BadOption, match="pages part '0' is empty") as refused:
        take_page_range({"pages": "0"})
    assert refused.value.details["option"] == "pages"
    with pytest.raises(BadOption, match="give the page range once"):
        take_page_range({"page_range": "1", "pages": "2"})


def test_too_many_pages() -> None:
    assert select_pages(300, parse_page_range("1-5"), max_pages=200) == [1, 2, 3, 4, 5]
    with pytest.raises(TooManyPages):
        select_pages(201, None, max_pages=200)
