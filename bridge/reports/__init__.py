"""What an event leaves behind: CSV and JSON exports and the printable HTML report.

It uses ``bridge.event``, ``bridge.tally`` and ``bridge.desk``.
"""
