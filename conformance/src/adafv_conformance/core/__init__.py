"""The core suite: golden tensors of AdaFV's scores and selection, from the float64 oracle.

One module per job, as in the model-level suite: ``cases`` (the case table), ``inputs``
(hand-built inputs and recipe specs), ``reference`` (expected values and margins),
``generate`` (writing and verifying the fixtures). Importing this package imports nothing
else: each module names what it needs.
"""
