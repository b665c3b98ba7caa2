"""``python -m adafv_llamacpp``: both handlers on one image, a table of what each did."""

from __future__ import annotations

from adafv_llamacpp.cli import main
from conftest import IMAGES, QUESTION


def test_cli_compares_the_stock_handler_with_adafv(gguf_pair, capsys):
    model, mmproj = gguf_pair
    status = main(
        [
            "--model", str(model),
            "--mmproj", str(mmproj),
            "--image", str(IMAGES / "picture-11.png"),
            "--prompt", QUESTION,
            "--budget", "48",
            "--max-tokens", "3",
            "--threads", "2",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0
    cells = [line.split("│") for line in out.splitlines() if "│" in line]
    rows = {cell[1].strip(): cell[2:4] for cell in cells}
    stock, ours = (cell.strip() for cell in rows["image tokens"])
    assert (stock, ours) == ("576", "48")
    stock, ours = (int(cell.strip()) for cell in rows["prompt tokens"])
    assert stock - ours == 576 - 48
