"""What an event is made of: votes and counting policies, question kinds, round states and the
rule that places a press in a round, the agenda and the roster.

Plain data and rules with no I/O; it uses ``drivers`` (handset IDs) and nothing else.
"""
