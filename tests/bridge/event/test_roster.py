"""The roster: the example delegates, pairing rules, CSV round trips and errors."""

from __future__ import annotations

import pytest

from bridge.desk.event_desk import seating_document
from bridge.event.roster import Participant, Roster, RosterError
from bridge.event.roster_files import load_roster, roster_from_csv
from bridge.settings import DEFAULT_CONFIG

EXAMPLE = DEFAULT_CONFIG.parent / "rosters" / "vestegn-summit.csv"


def test_the_example_roster_seats_220_at_tables_of_seven() -> None:
    roster = load_roster(EXAMPLE)
    assert len(roster) == 220
    tables = roster.seated()
    assert len(tables) == 32
    assert sorted(set(tables.values())) == [3, 7]
    assert {p.segment for p in roster.participants()} == {
        "politicians",
        "business",
        "organisations",
    }


def test_pairing_normalises_ids_and_one_handset_has_one_holder() -> None:
    roster = Roster(
        [
            Participant(id="p1", table="1", segment="business"),
            Participant(id="p2", table="1", segment="politicians"),
        ]
    )
    roster.pair("p1", " 428071b3 ")
    assert roster.holder("428071B3") == roster.get("p1")
    assert roster.seat_of("428071B3") == ("business", "1")
    with pytest.raises(RosterError, match="paired with 'p1'"):
        roster.pair("p2", "428071B3")
    with pytest.raises(RosterError, match="must be B3") as bad:
        roster.pair("p2", "428071B4")
    assert bad.value.status == 422
    roster.pair("p1", "3EF8894F")  # a new handset frees the old one
    assert roster.holder("428071B3") is None
    roster.pair("p2", "428071B3")
    assert roster.paired == 2
    assert seating_document(roster)["seats"] == {
        "3EF8894F": ["business", "1"],
        "428071B3": ["politicians", "1"],
    }


def test_csv_round_trip_and_errors_name_the_line() -> None:
    roster = load_roster(EXAMPLE)
    roster.pair("p007", "428071B3")
    again = roster_from_csv(roster.to_csv())
    assert again.participants() == roster.participants()
    with pytest.raises(RosterError, match="line 3") as caught:
        roster_from_csv("id,name,handset\np1,Ann,428071B3\np2,Bo,XYZ\n")
    assert "handset" in str(caught.value)
    with pytest.raises(RosterError, match=r"line 3.*paired"):
        roster_from_csv("id,handset\np1,428071B3\np2,428071b3\n")
    with pytest.raises(RosterError, match="'id' column"):
        roster_from_csv("name\nAnn\n")
