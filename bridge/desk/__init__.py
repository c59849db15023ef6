"""The host's side: the round controller and its timer, the event desk (agenda, roster,
pairing), the event store, and round commands over MQTT.

It uses ``bridge.event``, ``bridge.press.journal``, ``bridge.mqtt`` and ``bridge.clock``.
"""
