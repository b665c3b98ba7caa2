"""AdaFV in lmms-eval: models that prune, and sweeps that compare them with the full model.

- ``lmms-eval --model adafv_llava_hf --model_args pretrained=...,budget=64``: the models,
  registered through lmms-eval's ``lmms_eval.models`` entry points (``adafv_eval.registry``);
- ``adafv-eval``: the full model and AdaFV at several budgets on the same tasks, in one
  table with the published figures beside it (``adafv_eval.sweep``, ``adafv_eval.table``).
"""

__version__ = "0.1.0"
