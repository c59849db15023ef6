"""Pseudonyms of anonymous rounds: stable within a round, unrelated across rounds, and the
round key kept in the journal until it is destroyed, then gone from its files."""

from __future__ import annotations

from pathlib import Path

from bridge.event.votes import Decision, Record
from bridge.press.anonymity import RoundKeys
from bridge.press.journal import Journal


def press(rid: int, handset: str, round_id: str = "r") -> Record:
    return Record(rid, 1.0 + rid, "rx1", handset, "A", Decision.COUNTED, round_id, "A")


def test_pseudonyms_are_stable_in_a_round_and_unrelated_across_rounds() -> None:
    kept: dict[str, bytes] = {}
    forgotten: list[str] = []
    keys = RoundKeys(keep=kept.__setitem__, forget=forgotten.append)
    a1 = keys.pseudonymise(press(1, "428071B3"), "p1")
    a2 = keys.pseudonymise(press(2, "428071B3"), "p1")
    swap = keys.pseudonymise(press(3, "3EF8894F"), "p1")  # p1's second keypad
    other = keys.pseudonymise(press(4, "428071B3", "s"), "p1")
    unpaired = keys.pseudonymise(press(5, "55555555"), None)
    assert a1.handset == a2.handset != swap.handset
    assert a1.handset.startswith("~h")
    assert a1.voter == a2.voter == swap.voter != other.voter
    assert a1.voter is not None
    assert a1.voter.startswith("~p")
    assert other.handset != a1.handset
    assert unpaired.voter == unpaired.handset
    assert set(kept) == {"r", "s"}
    keys.forget("r")
    assert forgotten == ["r"]
    assert "r" not in keys
    late = [keys.pseudonymise(press(6 + i, "428071B3"), "p1").handset for i in range(2)]
    assert late[0] != late[1] != a1.handset  # one-off pseudonyms once the key is gone
    assert set(kept) == {"r", "s"}  # a destroyed round's key is not made again


async def test_the_journal_keeps_a_round_key_until_it_is_destroyed(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.open()
    key = bytes(range(32))
    try:
        journal.keep_key("r", key)
        journal.participated("r", None, "p2")
        journal.participated("r", None, "p1")
        journal.participated("r", None, "p1")
        journal.append(press(journal.next_id(), "~hx"))
        await journal.flush()
        assert journal.round_keys() == {"r": key}
        assert journal.participants("r") == ["p1", "p2"]
        assert journal.participants("r", since=5.0) == []
        journal.forget_key("r")
        journal.append(press(journal.next_id(), "~hy"))
        await journal.flush()
        assert journal.round_keys() == {}
    finally:
        await journal.close()
    assert not holding(tmp_path, key.hex().encode())


def holding(folder: Path, data: bytes) -> list[Path]:
    """The journal's files (database, WAL) in which ``data`` occurs."""
    return [p for p in folder.glob("journal.sqlite3*") if data in p.read_bytes()]
