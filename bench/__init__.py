"""Benchmarks: each module measures one figure and prints the command that reproduces it."""
