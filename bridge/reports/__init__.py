"""What an event leaves behind: the results and votes CSV tables, the exports and the printable
HTML report.

It uses ``bridge.event``, ``bridge.tally`` and ``bridge.desk``.
"""
