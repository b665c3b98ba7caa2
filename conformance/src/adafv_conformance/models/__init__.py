"""The model-level suite: tiny checkpoints of every supported family, and what an
integration must reproduce on them.

One module per job: ``cases`` (the case table), ``vocabulary`` (what prompts may say),
``checkpoints`` (building and loading the tiny checkpoints), ``inputs`` (pictures and the
processors' inputs), ``anyres`` and ``reference`` (the expected values, from paths that
share no code with any integration), ``generate`` (writing and verifying the fixtures),
``gguf_pairs`` (the checkpoints as llama.cpp loads them, numpy only).
Importing this package imports nothing else: each module names what it needs.
"""
