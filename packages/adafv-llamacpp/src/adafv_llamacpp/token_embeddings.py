"""``T``, the query's input embeddings: rows of the language model's token-embedding table.

Read once per model file with the ``gguf`` package (memory-mapped; only the rows asked for
are dequantised), so no second copy of the model is loaded and any quantisation works.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

TABLE = "token_embd.weight"


class TokenEmbeddings:
    """The ``token_embd.weight`` table of a GGUF language model."""

    def __init__(self, model_path: str):
        import gguf

        reader = gguf.GGUFReader(model_path)
        tensor = next((t for t in reader.tensors if t.name == TABLE), None)
        if tensor is None:
            raise ValueError(f"{model_path} has no {TABLE} tensor")
        self._data = tensor.data
        self._type = tensor.tensor_type
        self.width, self.vocab_size = int(tensor.shape[0]), int(tensor.shape[-1])

    def rows(self, token_ids: list[int]) -> np.ndarray:
        """``(M, d)`` float32 embeddings of ``token_ids`` (``M`` may be 0)."""
        import gguf

        ids = np.asarray(token_ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(
                f"token ids {token_ids} fall outside the vocabulary of {self.vocab_size}"
            )
        picked = gguf.quants.dequantize(self._data[ids], self._type)
        return np.asarray(picked, dtype=np.float32).reshape(len(ids), self.width)


@lru_cache(maxsize=4)
def token_embeddings(model_path: str) -> TokenEmbeddings:
    """The cached table of the model at ``model_path``."""
    return TokenEmbeddings(model_path)
