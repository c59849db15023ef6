"""Counting: a round's tally, the tally role that publishes it, results documents, recounts
from the journal and the offline recount of a receiver capture.

It uses ``bridge.event``, ``bridge.press``, ``bridge.mqtt``, ``bridge.desk.store`` and
``drivers``.
"""
