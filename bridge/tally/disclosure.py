"""Disclosure control for the groups a result is broken down by (segments).

A group with fewer voters than the event's minimum is suppressed: neither its figures nor its
size are published. That alone is not enough: anyone holding the totals and the published
groups subtracts them and gets the suppressed group's figures exactly. So groups are
suppressed in addition (complementary suppression), the smallest first, until what the
subtraction yields is the sum of at least two suppressed groups with, together, at least the
minimum of voters: a figure of the kind the event publishes anyway, which names no group.

Voters that belong to no group (a handset counted as its own voter, a participant without a
segment) are assumed known to whoever subtracts, so they never stand in for a second group.
"""

from __future__ import annotations

from collections.abc import Mapping


def suppressed_groups(sizes: Mapping[str, int], min_size: int) -> set[str]:
    """The groups to suppress, given each group's number of voters."""
    chosen = {g for g, n in sizes.items() if n < min_size}
    if not chosen:
        return chosen
    rest = sorted((g for g in sizes if g not in chosen), key=lambda g: (sizes[g], g))
    while rest and (len(chosen) < 2 or sum(sizes[g] for g in chosen) < min_size):
        chosen.add(rest.pop(0))
    return chosen
