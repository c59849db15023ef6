"""The service core: handset IDs, votes, rounds, dedup, journal, MQTT, tally, broker, roles."""

VERSION = "0.1.0"
