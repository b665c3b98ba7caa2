"""``python -m adafv_llamacpp``: both handlers on one image, a table of what each did."""

from __future__ import annotations

import pytest

from adafv_llamacpp.cli import main
from adafv_llamacpp_helpers import IMAGES, QUESTION


@pytest.mark.parametrize(
    ("pair", "picture", "image_tokens", "handler"),
    [
        ("gguf_pair", 11, 576, "Llava15ChatHandler"),  # 336 x 336: one crop
        ("next_gguf_pair", 7, 3 * 576, "Llava16ChatHandler"),  # 500 x 300: 2 crops + overview
    ],
)
def test_cli_compares_the_stock_handler_with_adafv(
    request, capsys, pair, picture, image_tokens, handler
):
    model, mmproj = request.getfixturevalue(pair)
    status = main(
        [
            "--model", str(model),
            "--mmproj", str(mmproj),
            "--image", str(IMAGES / f"picture-{picture}.png"),
            "--prompt", QUESTION,
            "--budget", "48",
            "--max-tokens", "3",
            "--threads", "2",
            "--n-ctx", "4096",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0 and handler in out
    cells = [line.split("│") for line in out.splitlines() if "│" in line]
    rows = {cell[1].strip(): cell[2:4] for cell in cells}
    stock, ours = (cell.strip() for cell in rows["image tokens"])
    assert (stock, ours) == (str(image_tokens), "48")
    stock, ours = (int(cell.strip()) for cell in rows["prompt tokens"])
    assert stock - ours == image_tokens - 48
