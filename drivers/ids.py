"""Handset IDs, normalised per receiver family.

i>clicker IDs are the 8 hex digits printed on the remote; the fourth byte is the XOR of
the first three. The vendor also matches IDs that start with 2, 4 or 8 in an alternate
form (first digit 0, last byte recomputed), so both forms name the same handset.
TurningPoint IDs are 6 hex digits.
"""

from __future__ import annotations

import string

_HEX = frozenset(string.hexdigits)


class HandsetIdError(ValueError):
    """A string that is not a valid handset ID for its family."""


def iclicker_id(first3: bytes | tuple[int, int, int]) -> str:
    """The printed ID of an i>clicker remote from its first three ID bytes."""
    b0, b1, b2 = first3
    return f"{b0:02X}{b1:02X}{b2:02X}{b0 ^ b1 ^ b2:02X}"


def parse_iclicker_id(text: str) -> str:
    """Normalise a printed i>clicker ID (trim, upper-case, left-pad to 8); check its XOR byte."""
    s = text.strip().upper()
    if not s or len(s) > 8 or not _HEX.issuperset(s):
        raise HandsetIdError(f"i>clicker ID {text!r} is not 1 to 8 hex digits")
    s = s.rjust(8, "0")
    b = bytes.fromhex(s)
    if b[0] ^ b[1] ^ b[2] != b[3]:
        raise HandsetIdError(
            f"i>clicker ID {s} fails its check: the last byte must be {b[0] ^ b[1] ^ b[2]:02X}"
        )
    return s


def iclicker_alternate(handset: str) -> str | None:
    """The vendor's alternate form of an i>clicker ID starting with 2, 4 or 8, else None."""
    if len(handset) != 8 or handset[0] not in "248":
        return None
    b = bytes.fromhex("0" + handset[1:6])
    return iclicker_id((b[0], b[1], b[2]))


def parse_turning_id(text: str) -> str:
    """Normalise a printed TurningPoint ID: exactly 6 hex digits, upper-case."""
    s = text.strip().upper()
    if len(s) != 6 or not _HEX.issuperset(s):
        raise HandsetIdError(f"TurningPoint ID {text!r} is not 6 hex digits")
    return s


def parse_handset_id(text: str) -> str:
    """Normalise an ID of any family by its form: 6 hex digits (TurningPoint, Beyond Question,
    ARS-RX) or an i>clicker ID of up to 8 hex digits with its check byte."""
    s = text.strip().upper()
    if len(s) == 6 and _HEX.issuperset(s):
        return s
    if s and len(s) <= 8 and _HEX.issuperset(s):
        return parse_iclicker_id(s)
    raise HandsetIdError(f"handset ID {text!r} is not 6 hex digits or an i>clicker ID")


class HandsetAliases:
    """Resolves the two forms of an i>clicker ID to one handset.

    A remote printed ``2XXXXXYY`` (or 4..., 8...) may be reported in the vendor's alternate
    form ``0XXXXXZZ``. Printed IDs learnt from the roster always win; without a roster, the
    form heard first stays the handset's ID, so one handset never counts twice.
    """

    def __init__(self) -> None:
        self._canonical: dict[str, str] = {}
        self._printed_by_alt: dict[str, str] = {}

    def learn(self, printed: str) -> None:
        """A printed ID from the roster: both of its forms resolve to it from now on."""
        self._canonical[printed] = printed
        alt = iclicker_alternate(printed)
        if alt is not None:
            self._printed_by_alt[alt] = printed
            self._canonical[alt] = printed

    def resolve(self, handset: str) -> str:
        """The ID under which a reported ``handset`` is counted."""
        known = self._canonical.get(handset)
        if known is not None:
            return known
        alt = iclicker_alternate(handset)
        if alt is not None:
            # A printed form: it joins its alternate if that was heard first.
            canonical = self._canonical.get(alt, handset)
            self._printed_by_alt.setdefault(alt, handset)
        else:
            canonical = self._printed_by_alt.get(handset, handset)
        self._canonical[handset] = canonical
        return canonical
