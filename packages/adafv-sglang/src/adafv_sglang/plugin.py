"""The SGLang plugin entry point (``sglang.srt.plugins``: ``adafv``).

SGLang calls :func:`register` in each process it starts, before the scheduler and the model
are built; the hooks apply to the classes each family's ``HOOKS`` table names, in that
process.
"""

from __future__ import annotations

from collections.abc import Callable


def hook_table() -> dict[str, Callable]:
    """SGLang's target -> the function that wraps it, for every family the plugin serves.

    The hook modules import SGLang's model classes, so the table is built when asked for,
    in a process that has SGLang."""
    from adafv_sglang import hooks, state
    from adafv_sglang.gemma3 import hooks as gemma3_hooks
    from adafv_sglang.llava import hooks as llava_hooks
    from adafv_sglang.qwen import hooks as qwen_hooks

    families = {**llava_hooks.HOOKS, **qwen_hooks.HOOKS, **gemma3_hooks.HOOKS}
    return {**hooks.HOOKS, **state.HOOKS, **families}


def register() -> None:
    """Register AdaFV's hooks with SGLang's ``HookRegistry``, and the plugin's llava-hf
    LLaVA-NeXT and LLaVA-OneVision models with SGLang's registries."""
    from sglang.srt.plugins.hook_registry import HookRegistry, HookType

    from adafv_sglang.compat import SGLANG

    SGLANG.check()
    from adafv_sglang.llava import next as llava_next
    from adafv_sglang.llava import onevision

    llava_next.register_model()
    onevision.register_model()
    for target, function in hook_table().items():
        HookRegistry.register(target, function, HookType.AROUND)
