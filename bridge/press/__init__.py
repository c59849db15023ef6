"""The press path: a receiver's event decided (intake), made durable (journal) and sent on as
vote batches (publisher), with the bridge role that supervises the receivers.

It uses ``bridge.event``, ``bridge.mqtt`` and ``drivers``.
"""
