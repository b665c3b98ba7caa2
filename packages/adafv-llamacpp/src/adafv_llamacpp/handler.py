"""What ``AdaFVLlava15ChatHandler`` and ``AdaFVLlava16ChatHandler`` add to llama-cpp-python's
LLaVA chat handlers (:class:`AdaFVChatHandler`), keeping ``K`` image tokens per image. The two
classes themselves are in ``adafv_llamacpp.chat_handlers``, which imports llama-cpp-python.

The stock handler tokenises the whole prompt into text and image chunks, then walks them:
text through ``llama.eval``, images through ``mtmd_helper_eval_chunk_single`` (encode, then
decode all the chunk's embeddings). This handler keeps all of that and changes one step: the
image chunks of one image are encoded, their ``N`` embeddings (``V``), the [CLS] saliency
captured during those same encodes (``s``) and the embedding-table rows of the image's query
(``T``: the text of its turn through the assistant opener, or all text after it, ADAFV-R23;
``adafv_llamacpp.turns``) go to ``adafv.select``, and only the ``K`` kept embeddings are decoded, at
contiguous positions after the preceding text; the text after the image follows at the
shortened positions, as in the Transformers integration. The seam is the handler's own
reference to the ``mtmd`` bindings, replaced by a wrapper that forwards everything else
untouched.

One image is one chunk for LLaVA-1.5. For LLaVA-1.6, llama.cpp slices an image into crops of
the vision tower's size (the best of the ``mmproj``'s grid pinpoints) plus a downscaled
overview, and makes each its own chunk, crops first in row-major order and the overview last,
with no text between them. The handler tags each image's bitmap with its own id (mtmd copies
it to every chunk made from that image), so it knows which chunks are one image and spends
one budget across all of them (ADAFV-R3), each crop's saliency being its own [CLS] row
(ADAFV-R4), as the Transformers integration does for LLaVA-NeXT. Unlike Transformers'
LLaVA-NeXT, llama.cpp neither unpads the crops nor inserts ``image_newline`` rows, so there is
no separator to keep: every row the language model would receive is a candidate.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple, Unpack

import numpy as np
from threadpoolctl import threadpool_limits

import adafv
from adafv import OptionArguments, Options
from adafv_llamacpp.layout import GraphLayout, detect_layout
from adafv_llamacpp.mmproj import projector_type
from adafv_llamacpp.saliency import VisionProbe
from adafv_llamacpp.token_embeddings import token_embeddings
from adafv_llamacpp.turns import query_end


class ChunkStep(NamedTuple):
    """What ``mtmd_helper_eval_chunk_single`` was called with for an image's first chunk,
    that decoding its kept rows needs: the language model's context, the chunk, the
    sequence, the batch size, and whether the last row's logits are wanted."""

    lctx: Any
    chunk: Any
    seq_id: Any
    n_batch: int
    logits_last: bool


@dataclass(frozen=True)
class ImageSelection:
    """What was kept of one image, in the rows the language model receives.

    Attributes:
        visual: ``(N, d)`` float32 projected embeddings (``V``), the image's chunks in order.
        crop_tokens: how many of the ``N`` rows each chunk (crop) gave, in order.
        query_ids: the token ids of the text after the image (``T``'s rows).
        saliency: ``(N,)`` float64 [CLS] saliency aligned with ``visual`` (ADAFV-R4).
        t2i_log: ``(N,)`` float32 text-to-image log-scores (ADAFV-R5).
        kept: ``(K,)`` ascending indices into the ``N`` rows.
        n_past: the position of the first kept row.
        end: the position after the image, where the text after it starts: ``n_past + K``
            with one position per row; with M-RoPE (Qwen) the stock path's, whatever ``K``.
        logits: ``(K, vocab)`` the kept rows' logits for a ``Llama`` made with
            ``logits_all=True``, else None.
        seconds: wall time of the steps: ``encode`` (vision tower and projector, saliency
            capture included), ``select`` (``T``, scores, selection) and ``decode`` (the
            language model on the kept rows).
    """

    visual: np.ndarray
    crop_tokens: tuple[int, ...]
    query_ids: list[int]
    saliency: np.ndarray
    t2i_log: np.ndarray
    kept: np.ndarray
    n_past: int
    end: int
    seconds: dict[str, float]
    logits: np.ndarray | None = None


STOCK_HANDLERS = (
    "Llava15ChatHandler",
    "Llava16ChatHandler",
    "Qwen25VLChatHandler",
    "MTMDChatHandler",
)


class AdaFVChatHandler:
    """What AdaFV adds to one of llama-cpp-python's LLaVA handlers: put it first in the bases,
    before the stock handler (``adafv_llamacpp.chat_handlers``). Every AdaFV handler is an
    instance of it, and of its stock handler.

    Args:
        clip_model_path: the ``mmproj`` GGUF, as for the stock handler.
        options: the AdaFV parameters as one :class:`adafv.Options`, or the budget.
        verbose: as for the stock handler.
        **loose: the parameters one by one instead of ``options``
            (:class:`adafv.OptionArguments`): ``budget`` or ``keep_ratio`` (ADAFV-R3),
            ``guarantee`` (tau, ADAFV-R7), ``t2i_scale`` (beta, ADAFV-R5); one left out or
            None takes the spec's default.

    Raises:
        TypeError: ``options`` and loose parameters are given together, or a parameter is
            not an option.
        ValueError: a parameter is invalid (ADAFV-R2).
    """

    projectors: tuple[str, ...] = ("mlp",)
    """The ``mmproj`` projector types (``clip.projector_type``) whose graphs this handler reads;
    another is refused when the handler is made."""

    assistant_openers: tuple[str, ...] = ("ASSISTANT:",)
    """The text the handler's chat format writes to open the assistant's turn (LLaVA-1.5's
    ``ASSISTANT:``): with ``query="turn"`` the first one after an image ends its query
    (ADAFV-R23)."""

    layout: GraphLayout | None = None
    """The vision graph's layout (``adafv_llamacpp.layout``): None until the first image is
    encoded, then the one read from that vision pass (the [CLS] row found against the
    ``mmproj``'s weights), so a build with the upstream fix is followed as it is."""

    def __init__(
        self,
        clip_model_path: str,
        options: Options | int | None = None,
        *,
        verbose: bool = True,
        **loose: Unpack[OptionArguments],
    ):
        options = adafv.options_from(options, loose)  # before the stock handler loads a model
        projector = projector_type(clip_model_path)
        if projector not in self.projectors:
            raise ValueError(
                f"clip_model_path={clip_model_path!r} is a {projector!r} mmproj; "
                f"{type(self).__name__} reads {', '.join(self.projectors)} (see "
                "adafv_llamacpp.cli.PROJECTORS for the handler of each)"
            )
        super().__init__(clip_model_path=clip_model_path, verbose=verbose)
        self.options = options
        self.probe = self._vision_probe()
        self.selections: list[ImageSelection] = []
        self._llama: Any = None
        self._mtmd_cpp = _PruningBindings(self._mtmd_cpp, self)

    @contextmanager
    def using(self, **options: Any) -> Iterator[None]:
        """Other options for the calls inside the block, e.g. ``budget=32`` (``budget`` and
        ``keep_ratio`` replace each other, as in :meth:`adafv.Options.replace`)."""
        previous = self.options
        self.options = previous.replace(**options)
        try:
            yield
        finally:
            self.options = previous

    def _vision_probe(self) -> VisionProbe:
        """The probe on the vision graph: LLaVA's last layer, and ``pre_ln`` for its layout."""
        return VisionProbe(also=frozenset({"pre_ln"}))

    def _image_saliency(self, n_tokens: int, chunk: Any) -> np.ndarray:
        """The [CLS] query's weights on the ``n_tokens`` rows of one crop the language model
        receives (``layout``), from the probe's one graph run (ADAFV-R4)."""
        probe = self.probe
        if len(probe.runs) != 1:
            raise RuntimeError(
                f"the vision encoder ran {len(probe.runs)} graphs for one image chunk; "
                "the handler expects one graph per crop, as llama.cpp's LLaVA runs them"
            )
        if self.layout is None:
            if "pre_ln" not in probe.extra:
                raise RuntimeError(
                    "the vision graph has no pre_ln node to read its [CLS] row from; the "
                    "handler's probe must keep it (VisionProbe(also={'pre_ln'}))"
                )
            self.layout = detect_layout(probe.extra["pre_ln"], self.clip_model_path)
        layout = self.layout
        weights = probe.cls_attention(0, layout.cls_row)
        first = layout.first_output_row
        if first + n_tokens > len(weights):
            raise RuntimeError(
                f"{n_tokens} image tokens from rows {first}.. of a {len(weights)}-row graph"
            )
        return weights[first : first + n_tokens]

    def _decode_kept(
        self, step: ChunkStep, rows: np.ndarray, kept: np.ndarray, start: int
    ) -> tuple[int, np.ndarray | None]:
        """Decode the kept rows at contiguous positions from ``start``, as the rows of a
        sequence; returns the position after them, and their logits for a ``Llama`` made with
        ``logits_all=True`` (also in ``llama.scores``). The prompt cache compares token lists, so
        the kept rows are marked by which rows they are, with ids no vocabulary has: another
        selection never reads as the same prompt."""
        llama = self._llama
        positions = start + np.arange(len(kept))
        logits = _decode_embeddings(llama, step, rows, positions[None])
        if logits is not None:
            llama.scores[start : start + len(kept)] = logits
        llama.input_ids[start : start + len(kept)] = -1 - kept
        return start + len(kept), logits

    def _query_ids(self, ids: list[int]) -> list[int]:
        """The image's query among the token ids of the text after it (ADAFV-R23): through
        the first assistant opener, or all of them for ``query="after"``."""
        query, llama = self.options.query, self._llama
        if query == "after":
            return ids
        # As a run of token ids, as the spec finds it, and in the tokens' text, for a
        # vocabulary that spells the opener otherwise inside a prompt (adafv_llamacpp.turns).
        runs = [
            llama.tokenize(o.encode(), add_bos=False, special=True) for o in self.assistant_openers
        ]
        pieces = [llama.detokenize([t], special=True) for t in ids]
        end = min(
            adafv.query_end(ids, 0, [r for r in runs if r], query),
            query_end(pieces, self.assistant_openers, query),
        )
        return ids[:end]

    def __call__(self, *, llama: Any, **kwargs: Any) -> Any:
        """The stock handler's call; ``selections`` then lists what each image kept."""
        self._llama, self.selections = llama, []
        try:  # the images are decoded here, streamed answers included
            return super().__call__(llama=llama, **kwargs)
        finally:
            # The Llama holds this handler (``chat_handler``): holding it back between calls
            # would make a cycle, collected only at interpreter exit, where Llama.__del__
            # then fails on closed streams.
            self._llama = None


class _PruningBindings:
    """The ``mtmd`` bindings as the stock handler sees them, with three calls changed:
    context creation installs the saliency probe, tokenising tags each image and remembers the
    chunks (which chunks are one image, and the text after it), and evaluating an image's
    first chunk prunes the whole image."""

    def __init__(self, real: Any, handler: Any):
        self._real = real
        self._handler = handler
        self._chunks: Any = None
        self._decoded: set[int] = set()  # chunks already decoded with their image's first

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def mtmd_context_params_default(self) -> Any:
        params = self._real.mtmd_context_params_default()
        params.cb_eval = self._handler.probe.callback
        return params

    def mtmd_tokenize(self, ctx: Any, chunks: Any, text: Any, bitmaps: Any, n_bitmaps: int) -> int:
        # Every chunk made from a bitmap carries the bitmap's id: a distinct id per image
        # groups an image's crops. The stock handler sets none; the id changes nothing else.
        for i in range(n_bitmaps):
            self._real.mtmd_bitmap_set_id(bitmaps[i], f"adafv-image-{i}".encode())
        self._chunks, self._decoded = chunks, set()
        return self._real.mtmd_tokenize(ctx, chunks, text, bitmaps, n_bitmaps)

    def mtmd_helper_eval_chunk_single(
        self,
        ctx: Any,
        lctx: Any,
        chunk: Any,
        n_past: Any,
        seq_id: Any,
        n_batch: int,
        logits_last: bool,
        new_n_past: Any,
    ) -> int:
        real = self._real
        start = int(getattr(n_past, "value", n_past))
        if _address(chunk) in self._decoded:  # its rows went in with the image's first chunk
            new_n_past._obj.value = start
            return 0
        stock = (ctx, lctx, chunk, n_past, seq_id, n_batch, logits_last, new_n_past)
        if real.mtmd_input_chunk_get_type(chunk) != real.MTMD_INPUT_CHUNK_TYPE_IMAGE:
            return real.mtmd_helper_eval_chunk_single(*stock)
        members = self._image_chunks(chunk)
        if not members:  # a later chunk of an image left to the stock path
            return real.mtmd_helper_eval_chunk_single(*stock)
        handler = self._handler
        options = handler.options
        crop_tokens = tuple(int(real.mtmd_input_chunk_get_n_tokens(c)) for c in members)
        n_tokens = sum(crop_tokens)
        kept_count = adafv.kept_count(
            n_tokens, budget=options.budget, keep_ratio=options.keep_ratio
        )
        if kept_count >= n_tokens:  # ADAFV-R13: nothing to prune, the stock path exactly
            return real.mtmd_helper_eval_chunk_single(*stock)
        # One BLAS thread for the saliency readout and the selection: their products are
        # small, and a BLAS pool's threads keep spinning after a call, taking the cores
        # llama.cpp's decode needs next (measured: 5x slower).
        with threadpool_limits(limits=1, user_api="blas"):
            clock = time.perf_counter()
            visual, saliency = self._encode(ctx, members, crop_tokens)
            seconds = {"encode": time.perf_counter() - clock}
            clock = time.perf_counter()
            llama = handler._llama
            query_ids = handler._query_ids(self._text_after(members[-1]))
            text = token_embeddings(llama.model_path).rows(query_ids)
            # The language model's own input columns: a row may carry more (Qwen3-VL's
            # DeepStack levels, after them), which T2I does not read (ADAFV-R19).
            main = visual[:, : text.shape[1]]
            t2i_log = adafv.t2i_scores(main, text, t2i_scale=options.t2i_scale)
            selection = adafv.select_from_scores(t2i_log, saliency, **options.selection_arguments())
        kept = np.asarray(selection.indices)
        seconds["select"] = time.perf_counter() - clock
        clock = time.perf_counter()
        step = ChunkStep(lctx, chunk, seq_id, n_batch, logits_last)
        end, logits = handler._decode_kept(step, visual[kept], kept, start)
        new_n_past._obj.value = end
        seconds["decode"] = time.perf_counter() - clock
        self._decoded.update(_address(c) for c in members[1:])
        handler.selections.append(
            ImageSelection(
                visual, crop_tokens, query_ids, saliency, t2i_log, kept, start, end, seconds, logits
            )
        )
        return 0

    def _encode(
        self, ctx: Any, members: list[Any], crop_tokens: tuple[int, ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``V`` and ``s`` of one image: each chunk encoded once, its [CLS] row read from the
        same vision pass (ADAFV-R4)."""
        real, handler = self._real, self._handler
        # The width of an image row as the language model takes it (mtmd's n_embd_inp: wider
        # than the model for Qwen3-VL, whose rows carry the DeepStack levels too).
        width = int(_llama_cpp().llama_model_n_embd_inp(handler._llama.model))
        visual, saliency = [], []
        for chunk, n_tokens in zip(members, crop_tokens, strict=True):
            handler.probe.clear()
            if real.mtmd_encode_chunk(ctx, chunk) != 0:
                raise RuntimeError("mtmd_encode_chunk failed")
            embd = real.mtmd_get_output_embd(ctx)
            rows = np.ctypeslib.as_array(embd, shape=(n_tokens * width,))
            visual.append(rows.reshape(n_tokens, width).copy())
            saliency.append(handler._image_saliency(n_tokens, chunk))
        return np.concatenate(visual), np.concatenate(saliency)

    def _image_chunks(self, chunk: Any) -> list[Any]:
        """The chunks of ``chunk``'s image, ``chunk`` first, if ``chunk`` is the image's first
        chunk; otherwise none. An image's chunks are consecutive and share its bitmap id."""
        real, chunks = self._real, self._chunks
        listed = [
            real.mtmd_input_chunks_get(chunks, i)
            for i in range(real.mtmd_input_chunks_size(chunks))
        ]
        ids = [
            real.mtmd_input_chunk_get_id(c)
            if real.mtmd_input_chunk_get_type(c) == real.MTMD_INPUT_CHUNK_TYPE_IMAGE
            else None
            for c in listed
        ]
        first = [_address(c) for c in listed].index(_address(chunk))
        if first > 0 and ids[first - 1] == ids[first]:
            return []
        last = first
        while last + 1 < len(listed) and ids[last + 1] == ids[first]:
            last += 1
        return listed[first : last + 1]

    def _text_after(self, chunk: Any) -> list[int]:
        """The token ids of every text chunk after ``chunk``: the image's query is the first of
        them (ADAFV-R1, R23)."""
        real, chunks = self._real, self._chunks
        address = _address(chunk)
        ids: list[int] = []
        after = False
        for i in range(real.mtmd_input_chunks_size(chunks)):
            current = real.mtmd_input_chunks_get(chunks, i)
            if _address(current) == address:
                after = True
                continue
            if after and real.mtmd_input_chunk_get_type(current) == real.MTMD_INPUT_CHUNK_TYPE_TEXT:
                count = ctypes.c_size_t()
                tokens = real.mtmd_input_chunk_get_tokens_text(current, ctypes.byref(count))
                ids.extend(tokens[j] for j in range(count.value))
        return ids


def _address(chunk: Any) -> int:
    return ctypes.cast(chunk, ctypes.c_void_p).value


def _llama_cpp() -> Any:
    import llama_cpp

    return llama_cpp


def _decode_embeddings(
    llama: Any, step: ChunkStep, rows: np.ndarray, positions: np.ndarray
) -> np.ndarray | None:
    """Decode ``rows`` as embeddings, ``n_batch`` at a time, as ``mtmd_helper_decode_image_chunk``
    does for a whole chunk. ``positions`` is ``(1, n)`` for one position per row, or ``(4, n)``
    for M-RoPE (``t``, ``y``, ``x``, unused), section-major as llama.cpp reads an embedding
    batch's positions. Returns the rows' ``(n, vocab)`` logits for a ``Llama`` made with
    ``logits_all=True``, else None."""
    llama_cpp = _llama_cpp()
    n, width = rows.shape
    if positions.shape[1] != n:
        raise ValueError(f"positions of shape {positions.shape} for {n} rows")
    seq = int(getattr(step.seq_id, "value", step.seq_id))
    n_batch, last = step.n_batch, step.logits_last
    every_row = bool(getattr(llama, "_logits_all", False))
    logits_out = []
    for first in range(0, n, n_batch):
        part = np.ascontiguousarray(rows[first : first + n_batch], dtype=np.float32)
        count = part.shape[0]
        pos = np.ascontiguousarray(positions[:, first : first + count], dtype=np.int32)
        batch = llama_cpp.llama_batch_init(count, width, 1)
        # llama_batch_init's own positions (one per row), freed with the batch: kept as an
        # address, since a pointer read from a ctypes structure aliases the field itself.
        pointer = type(batch.pos)
        own_pos = ctypes.cast(batch.pos, ctypes.c_void_p).value
        try:
            ctypes.memmove(batch.embd, part.ctypes.data, part.nbytes)
            batch.pos = pos.ctypes.data_as(pointer)
            for i in range(count):
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = seq
                batch.logits[i] = every_row or (last and first + i == n - 1)
            batch.n_tokens = count
            if llama_cpp.llama_decode(step.lctx, batch) != 0:
                raise RuntimeError("llama_decode failed on the kept image embeddings")
            if every_row:
                vocab = llama.n_vocab()
                logits = np.ctypeslib.as_array(
                    llama_cpp.llama_get_logits(step.lctx), shape=(count * vocab,)
                )
                logits_out.append(logits.reshape(count, vocab).copy())
        finally:
            batch.pos = ctypes.cast(own_pos, pointer)
            llama_cpp.llama_batch_free(batch)
    return np.concatenate(logits_out) if every_row else None
