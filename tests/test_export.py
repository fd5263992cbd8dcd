"""ONNX export round trip on tiny TSMs, verified with onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from tsm_models.cli import main  # noqa: E402
from tsm_models.tools import export as export_mod  # noqa: E402
from tsm_models.tools.export import export_onnx, verify_onnx  # noqa: E402


@pytest.mark.parametrize("direction", ["bidirectional", "online"])
def test_dynamic_batch_round_trip(tiny_tsm, tmp_path: Path, direction: str) -> None:
    model = tiny_tsm("basic", shift_direction=direction)
    out = tmp_path / "tiny.onnx"
    result = export_onnx(model, out, (1, 4, 3, 32, 32))
    assert result.path == out and out.is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.onnx"]  # no temporary file left
    assert result.verified_batches == (1, 2) and result.max_rel_diff <= 1e-4
    graph = onnx.load(out).graph
    ops = {n.op_type for n in graph.node}
    assert "ScatterND" not in ops and {"Slice", "Concat"} <= ops  # the shift as slices + concat
    # another batch size than the two verified ones
    x = torch.randn(3, 4, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"video": x.numpy()})[0]
    with torch.no_grad():
        ref = model(x).numpy()
    assert got.shape == (3, 5)
    assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max()


def test_fixed_batch_and_two_groups_of_segments(tiny_tsm, tmp_path: Path) -> None:
    model = tiny_tsm("bottleneck", shift_place="inplace")  # num_segments=4, fed 8 frames = two shift groups
    result = export_onnx(model, tmp_path / "fixed.onnx", (2, 8, 3, 32, 32), dynamic_batch=False)
    assert result.verified_batches == (2,)
    shape = [d.dim_value for d in onnx.load(result.path).graph.input[0].type.tensor_type.shape.dim]
    assert shape == [2, 8, 3, 32, 32]


def test_verification_failure_leaves_no_file(tiny_tsm, tmp_path: Path, monkeypatch) -> None:
    model = tiny_tsm("basic")
    other = tiny_tsm("basic")
    torch.nn.init.normal_(other.fc.weight)  # different logits
    out = tmp_path / "ok.onnx"
    export_onnx(model, out, (1, 4, 3, 32, 32), dynamic_batch=False)
    with pytest.raises(ValueError, match="disagree"):
        verify_onnx(other, out, (1, 4, 3, 32, 32))

    def failing_verify(*args, **kwargs):
        raise ValueError("onnxruntime and PyTorch disagree (forced)")

    monkeypatch.setattr(export_mod, "verify_onnx", failing_verify)
    bad = tmp_path / "bad.onnx"
    with pytest.raises(ValueError, match="forced"):
        export_onnx(model, bad, (1, 4, 3, 32, 32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.onnx"]


def test_bad_export_arguments(tiny_tsm, tmp_path: Path) -> None:
    model = tiny_tsm("basic")
    with pytest.raises(ValueError, match=r"must end in \.onnx"):
        export_onnx(model, tmp_path / "x.pt", (1, 4, 3, 32, 32))
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        export_onnx(model, tmp_path / "missing" / "x.onnx", (1, 4, 3, 32, 32))
    with pytest.raises(ValueError, match="multiple of num_segments"):
        export_onnx(model, tmp_path / "x.onnx", (1, 6, 3, 32, 32))
    with pytest.raises(ValueError, match="5 positive ints"):
        export_onnx(model, tmp_path / "x.onnx", (1, 4, 32, 32))
    assert list(tmp_path.iterdir()) == []


def test_cli_export(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r18.onnx"
    rc = main(["export", "tsm_r18", "--onnx", str(out), "--img-size", "32", "--iters", "1"])
    text = capsys.readouterr().out
    assert rc == 0 and out.is_file()
    assert "video (batch, 8, 3, 32, 32)" in text
    assert "verified   onnxruntime vs PyTorch at batch 1, 2" in text
    assert "onnxruntime CPU" in text and "video/s" in text
    assert main(["export", "tsm_r18", "--onnx", str(tmp_path / "b.onnx"), "--batch", "zero"]) == 2
