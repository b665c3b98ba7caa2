"""``apply`` and ``remove``: AdaFV on the user's own model object, reversibly.

``apply`` adds two things to the model instance and nothing to its class:
- a forward pre-hook that prunes a call carrying ``pixel_values`` or ``pixel_values_videos``
  (``model(**inputs)``);
- an instance ``generate`` that prunes the prompt once, runs the model's own ``generate``
  with the kept features, and returns sequences that start with the caller's unpruned
  ``input_ids``, so ``out[:, inputs["input_ids"].shape[1]:]`` is still the new text.
``remove`` deletes both. Both are idempotent.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Unpack

import torch
from torch import nn

from adafv import options_from
from adafv_transformers.applied import STATE_ATTRIBUTE, AppliedState, applied_state
from adafv_transformers.compat import TRANSFORMERS, check_chunked_prefill
from adafv_transformers.families import family_for
from adafv_transformers.options import OptionArguments, Options
from adafv_transformers.pruning import processor_openers, prune_inputs


def apply(
    model: nn.Module,
    options: Options | int | None = None,
    *,
    processor: Any = None,
    **loose: Unpack[OptionArguments],
) -> nn.Module:
    """Make ``model`` keep ``K`` visual tokens per image, and return it.

    ``apply(model, Options(budget=64))`` or ``apply(model, budget=64)`` (``apply(model, 64)``
    for short); the options object or the loose arguments, not both. Applying again replaces
    the options; the model is patched once.

    Args:
        model: a supported ``...ForConditionalGeneration`` model (see
            ``adafv_transformers.FAMILIES``).
        options: all the parameters as one :class:`adafv_transformers.Options` (or
            :class:`adafv.Options`, with this package's defaults for the rest).
        **loose: the parameters one by one instead (:class:`adafv_transformers.options.
            OptionArguments`): ``budget`` or ``keep_ratio`` (ADAFV-R3), ``guarantee``
            (tau, ADAFV-R7), ``t2i_scale`` (beta, ADAFV-R5), ``image_newline``; one left out
            or None takes :class:`adafv_transformers.Options`' default (the spec's).
        processor: the model's processor or tokenizer, whose chat template (or the model
            family's) gives the assistant opener that ends an image's turn, its query with
            ``query="turn"`` (ADAFV-R23; :func:`adafv_transformers.turns.assistant_openers`).
            Without one no opener is known and the query is all text after the image, as
            with ``query="after"``. Applying again without it keeps the openers found before.

    Raises:
        TypeError: ``options`` and loose arguments are given together, or an argument is not
            an option.
        ValueError: the model is not supported, or a parameter is invalid (ADAFV-R2).
    """
    TRANSFORMERS.check()
    family_for(model)
    options = options_from(options, loose, Options)
    state = applied_state(model)
    openers = None if processor is None else processor_openers(model, processor)
    if state is not None:
        state.options = options
        if openers is not None:
            state.openers = openers
        return model
    hook = model.register_forward_pre_hook(_prune_forward, with_kwargs=True)
    setattr(model, STATE_ATTRIBUTE, AppliedState(options=options, hook=hook, openers=openers or ()))
    model.generate = functools.partial(_generate, model)
    return model


def remove(model: nn.Module) -> nn.Module:
    """Undo :func:`apply`; the model behaves exactly as before it. Harmless if not applied."""
    state = applied_state(model)
    if state is None:
        return model
    state.hook.remove()
    del model.generate
    delattr(model, STATE_ATTRIBUTE)
    return model


def _as_kwargs(model: nn.Module, args: tuple, kwargs: dict) -> dict:
    if not args:
        return dict(kwargs)
    bound = inspect.signature(type(model).forward).bind_partial(model, *args, **kwargs)
    arguments = dict(bound.arguments)
    arguments.pop("self", None)
    arguments.update(arguments.pop("kwargs", {}))
    return arguments


def _visual(inputs: dict) -> bool:
    """Whether a call carries pixels to prune: images or videos."""
    return inputs.get("pixel_values") is not None or inputs.get("pixel_values_videos") is not None


def _prune_forward(model: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
    if not _visual(kwargs) and not any(isinstance(a, torch.Tensor) and a.ndim == 4 for a in args):
        return None
    inputs = _as_kwargs(model, args, kwargs)
    if not _visual(inputs):
        return None
    return (), dict(prune_inputs(model, **inputs))


def _generate(model: nn.Module, *args: Any, **kwargs: Any) -> Any:
    original = type(model).generate
    inputs = dict(kwargs)
    if args:
        inputs["input_ids"] = args[0]
        if len(args) > 1:
            raise TypeError("pass generate's arguments after input_ids by keyword")
    if not _visual(inputs) or inputs.get("input_ids") is None:
        return original(model, **inputs)
    config = inputs.get("generation_config") or model.generation_config
    check_chunked_prefill(
        inputs.get("prefill_chunk_size") or getattr(config, "prefill_chunk_size", None)
    )
    pruned = prune_inputs(model, **inputs)
    output = original(model, **pruned)
    return _restore_prompt(output, inputs["input_ids"], pruned["input_ids"].shape[1])


def _restore_prompt(output: Any, prompt: torch.Tensor, pruned_length: int) -> Any:
    """Put the caller's unpruned prompt back in front of the generated tokens."""
    sequences = output if isinstance(output, torch.Tensor) else output.sequences
    restored = torch.cat([prompt.to(sequences.device), sequences[:, pruned_length:]], dim=1)
    if isinstance(output, torch.Tensor):
        return restored
    output.sequences = restored
    return output
