"""Repeated and comma-separated query values are the HTTP layer's to split; the core gets names."""

from __future__ import annotations

from entrypoints.http.params import comma_values


def test_repeated_and_comma_separated_values_make_one_list() -> None:
    assert comma_values(["deposit,withdrawal", " transfer "], None, "reversal") == [
        "deposit",
        "withdrawal",
        "transfer",
        "reversal",
    ]


def test_nothing_given_is_no_values_and_an_empty_value_stays_to_be_refused() -> None:
    assert comma_values(None, None) == []
    assert comma_values("a,,b") == ["a", "", "b"]
    assert comma_values([""]) == [""]
