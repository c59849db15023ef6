"""The bus: one MQTT link per process, topic names, the embedded broker and the mirror of
retained state that browsers see.

It uses ``bridge.settings`` only.
"""
