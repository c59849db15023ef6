"""Handset IDs: i>clicker check byte and alternate form, TurningPoint form."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.ids import (
    HandsetAliases,
    HandsetIdError,
    iclicker_alternate,
    iclicker_id,
    parse_handset_id,
    parse_iclicker_id,
    parse_turning_id,
)


def test_printed_id_from_its_three_bytes() -> None:
    assert iclicker_id((0x82, 0xE9, 0x70)) == "82E9701B"
    assert iclicker_id(bytes([0x42, 0x80, 0x71])) == "428071B3"


def test_printed_ids_are_normalised_and_checked() -> None:
    assert parse_iclicker_id(" 428071b3 ") == "428071B3"
    assert parse_iclicker_id("8071F1") == "008071F1"  # left-padded like the vendor does
    with pytest.raises(HandsetIdError, match="must be B3"):
        parse_iclicker_id("428071B4")
    with pytest.raises(HandsetIdError, match="hex"):
        parse_iclicker_id("42807XB3")
    with pytest.raises(HandsetIdError):
        parse_iclicker_id("")


def test_alternate_form_of_ids_starting_with_2_4_8() -> None:
    # 2661DD9A: first digit 2 -> 0, last byte recomputed as the XOR of the other three.
    assert iclicker_alternate("2661DD9A") == "0661DDBA"
    assert iclicker_alternate("428071B3") == "028071F3"
    assert iclicker_alternate("3EF8894F") is None
    assert iclicker_alternate("090FD3") is None


@given(st.binary(min_size=3, max_size=3))
def test_every_generated_id_passes_its_check(first3: bytes) -> None:
    handset = iclicker_id(first3)
    assert parse_iclicker_id(handset) == handset
    alt = iclicker_alternate(handset)
    if alt is not None:
        assert parse_iclicker_id(alt) == alt


def test_turning_ids() -> None:
    assert parse_turning_id("090fd3") == "090FD3"
    with pytest.raises(HandsetIdError):
        parse_turning_id("090fd")
    assert parse_handset_id("090fd3") == "090FD3"
    assert parse_handset_id("428071b3") == "428071B3"


def test_aliases_count_both_forms_as_one_handset() -> None:
    printed_first = HandsetAliases()
    assert printed_first.resolve("428071B3") == "428071B3"
    assert printed_first.resolve("028071F3") == "428071B3"

    alternate_first = HandsetAliases()
    assert alternate_first.resolve("028071F3") == "028071F3"
    assert alternate_first.resolve("428071B3") == "028071F3"

    roster = HandsetAliases()
    roster.learn("428071B3")
    assert roster.resolve("028071F3") == "428071B3"
    assert roster.resolve("3EF8894F") == "3EF8894F"


def test_the_service_learns_printed_ids_from_the_roster(tmp_path: Path) -> None:
    from bridge.service import Service
    from tests.conftest import service_settings

    service = Service(service_settings(tmp_path))
    assert service.core is not None
    service._seating_changed({"seats": {"428071B3": ["business", "1"]}, "tables": {"1": 7}})
    # Heard first in the alternate form, the handset still counts as its printed ID.
    assert service.core.aliases.resolve("028071F3") == "428071B3"
