"""The process wiring: the ``arsbridge`` command, the uvicorn runner, the demo and the event
simulation.

The only package that imports ``api`` and ``firmware_sim``; nothing imports it.
"""
