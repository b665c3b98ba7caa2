"""lmms-eval finds the models through its entry points, as ``lmms-eval --model`` does."""

from __future__ import annotations

import importlib
import re

import pytest
from lmms_eval.models import get_model, get_model_manifest

from adafv_eval.pruned import AdaFVModel
from adafv_eval.registry import MODELS


def _class(path):
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_lmms_eval_resolves_each_model_as_it_resolves_its_base(model_id):
    simple, chat, base_id = MODELS[model_id]
    manifest = get_model_manifest(model_id)
    assert (manifest.simple_class_path, manifest.chat_class_path) == (simple, chat)
    # The flavour lmms-eval picks for the base (chat where there is one), and the simple one.
    for force_simple in (False, True):
        resolved = get_model(model_id, force_simple=force_simple)
        assert resolved is _class(chat if chat and not force_simple else simple)
        assert issubclass(resolved, AdaFVModel)
        # Built on lmms-eval's own class for that model, not a copy of it.
        assert issubclass(resolved, get_model(base_id, force_simple=force_simple))


def test_bad_options_fail_before_any_weights_load(tmp_path):
    # A path with no checkpoint: loading would fail with another error.
    missing = tmp_path / "no-checkpoint"
    model_class = get_model("adafv_llava_hf")
    with pytest.raises(ValueError, match=re.escape("budget must be an integer >= 1, got -1.0")):
        model_class.create_from_arg_string(f"pretrained={missing},budget=-1")
    ratio = re.escape("keep_ratio must be a number in (0, 1], got 1.5")
    with pytest.raises(ValueError, match=ratio):
        model_class.create_from_arg_string(f"pretrained={missing},keep_ratio=1.5")


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_a_misspelt_argument_fails_before_any_weights_load(tmp_path, model_id):
    # Not an AdaFV option, so it goes on to lmms-eval's class, which refuses any argument it
    # does not take before it loads the checkpoint (the path here holds none).
    for force_simple in (False, True):
        model_class = get_model(model_id, force_simple=force_simple)
        with pytest.raises(AssertionError, match=re.escape("Unexpected kwargs: {'bugdet': 64}")):
            model_class.create_from_arg_string(f"pretrained={tmp_path},bugdet=64")
