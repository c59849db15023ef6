"""The service core: a press's path from receiver event to counted, published result.

Subpackages by stage: ``event`` (what an event is made of), ``press`` (intake, journal, vote
batches), ``mqtt`` (the bus), ``tally`` (counting and results), ``desk`` (the host's side),
``reports`` (exports and the printed report). It imports ``drivers`` and nothing else of the
project; see docs/architecture.md.
"""

VERSION = "0.1.0"
