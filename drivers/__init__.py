"""Receiver drivers: one subpackage per receiver family (pure codec, transport, receiver)."""
