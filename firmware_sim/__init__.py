"""Receiver and handset simulators built from the production codecs."""
