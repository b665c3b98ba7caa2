"""Helpers for the suite's own tests: an oracle-backed backend (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import numpy as np

from adafv_conformance import oracle


class OracleBackend:
    """A correct backend built from the oracle, so the runner has something to pass."""

    name = "oracle"

    def unsupported_reason(self, device: str) -> str | None:
        return None if device == "cpu" else f"no {device} device"

    def run(self, kind: str, inputs: dict, params: dict, device: str) -> dict:
        budget = {k: params[k] for k in ("budget", "keep_ratio") if k in params}
        batched = params["batched"]
        if kind == "selection":
            l_vals = inputs["t2i_log"]
        elif batched:
            l_vals = oracle.t2i_log_scores_batched(
                inputs["visual"],
                inputs["text"],
                inputs["visual_mask"],
                inputs["text_mask"],
                params["t2i_scale"],
            )
        else:
            l_vals = oracle.t2i_log_scores(inputs["visual"], inputs["text"], params["t2i_scale"])
        if kind == "scores":
            return {"t2i_log": l_vals}
        if batched:
            return oracle.select_batched(
                l_vals,
                inputs["saliency"],
                inputs["visual_mask"],
                **budget,
                guarantee=params["guarantee"],
            )
        res = oracle.select_from_scores(
            l_vals, inputs["saliency"], **budget, guarantee=params["guarantee"]
        )
        return {
            "indices": res["indices"],
            "count": np.array(len(res["indices"])),
            **{k: np.array(res[k]) for k in ("k_t2i", "k_saliency", "n_overlap")},
        }
