"""pretrained=True/path/"imagenet": cache -> Hub -> URL resolution, verified downloads, safe and strict loading.

All offline: a loopback HTTP server serves generated checkpoints, a hand-built Hugging Face cache stands in
for the Hub (``HF_HUB_OFFLINE``), and every cache is a temporary folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import socket
import threading
import urllib.error
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import huggingface_hub.constants
import pytest
import torch
from _weights_utils import mmaction2_checkpoint, payload_calls, pickle_with_forbidden_global, to_mmaction2_layout
from safetensors.torch import save_file
from timm.models.resnet import BasicBlock

import tsm_models
from tsm_models import TSM
from tsm_models.models._pretrained import load_pretrained
from tsm_models.models.zoo import ZOO, ZooEntry

TINY = dict(block=BasicBlock, layers=(1, 1, 1, 1), channels=(8, 16, 32, 64), num_segments=4)
SNAPSHOT = "0123456789abcdef0123456789abcdef01234567"


def tiny(num_classes: int = 5, seed: int | None = None) -> TSM:
    """A tiny TSM; ``seed`` gives every tensor (BN statistics included) distinct random values."""
    model = TSM(num_classes=num_classes, **TINY)
    if seed is not None:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for t in model.state_dict().values():
                if t.is_floating_point():
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return model.eval()


def assert_same_weights(model: TSM, expected: dict[str, torch.Tensor], skip: tuple[str, ...] = ()) -> None:
    got = model.state_dict()
    assert set(got) == set(expected)
    for key in got:
        if key not in skip:
            assert torch.equal(got[key], expected[key]), key


def checkpoint_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


class Server:
    """Loopback HTTP server: ``files[path] = bytes``; paths in ``truncated`` send half the body, then close."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncated: set[str] = set()
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in server.truncated else body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()

    def publish(self, data: bytes, prefix: str | None = None) -> str:
        """Serve ``data`` under a released-style name carrying ``prefix`` (default: its true sha256 prefix)."""
        prefix = prefix or hashlib.sha256(data).hexdigest()[:8]
        path = f"/tsm/tiny_1x1x4_kinetics400_rgb_20200607-{prefix}.pth"
        self.files[path] = data
        return self.url + path


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def closed_url() -> str:
    """A URL on a loopback port nothing listens on (as good as no network)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsm/tiny_1x1x4_kinetics400_rgb_20200607-01234567.pth"


@pytest.fixture
def caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Empty tsm_models cache (via $TSM_MODELS_CACHE) and Hugging Face cache, Hub offline."""
    paths = {"cache": tmp_path / "cache", "hf": tmp_path / "hf"}
    monkeypatch.setenv("TSM_MODELS_CACHE", str(paths["cache"]))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(paths["hf"]))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return paths


def tiny_entry(url: str, num_classes: int = 5) -> ZooEntry:
    base = ZOO["tsm_r50.mm0_8f_340x256_k400"]
    return dataclasses.replace(
        base, tag="tiny_tsm_test", url=url, num_classes=num_classes, model_args={"num_segments": 4}
    )


def plant_hub_repo(hf_cache: Path, repo_id: str, files: dict[str, bytes]) -> Path:
    """Write a Hugging Face cache entry by hand: ``models--org--name/refs/main`` + ``snapshots/<commit>/``."""
    repo = hf_cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(SNAPSHOT)
    snap = repo / "snapshots" / SNAPSHOT
    snap.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (snap / name).write_bytes(data)
    return snap


def safetensors_bytes(state_dict: dict[str, torch.Tensor], tmp: Path) -> bytes:
    path = tmp / "tmp.safetensors"
    save_file({k: v.contiguous() for k, v in state_dict.items()}, str(path))
    data = path.read_bytes()
    path.unlink()
    return data


# ---------------------------------------------------------------------------------------------------------
# URL path


def test_download_convert_store_then_reuse_cache_offline(server: Server, caches: dict[str, Path]) -> None:
    source = tiny(seed=1).state_dict()
    data = checkpoint_bytes(mmaction2_checkpoint(to_mmaction2_layout(source)))
    entry = tiny_entry(server.publish(data))
    model = tiny()
    load_pretrained(model, True, entry=entry, progress=False)
    assert_same_weights(model, source)
    prefix = hashlib.sha256(data).hexdigest()[:8]
    assert files_in(caches["cache"]) == [f"tsm_r50.tiny_tsm_test-{prefix}.safetensors"]  # no .pth, no partial files
    server.stop()
    requests = list(server.requests)
    again = tiny()
    load_pretrained(again, True, entry=entry, progress=False)
    assert_same_weights(again, source)
    assert server.requests == requests


def test_hash_mismatch_is_rejected(server: Server, caches: dict[str, Path]) -> None:
    data = checkpoint_bytes(mmaction2_checkpoint(to_mmaction2_layout(tiny(seed=1).state_dict())))
    url = server.publish(
        data, prefix="deadbeef" if not hashlib.sha256(data).hexdigest().startswith("de") else "0badf00d"
    )
    with pytest.raises(ValueError, match="sha256 mismatch"):
        load_pretrained(tiny(), True, entry=tiny_entry(url), progress=False)
    assert files_in(caches["cache"]) == []


def test_truncated_download_leaves_nothing(server: Server, caches: dict[str, Path]) -> None:
    data = checkpoint_bytes(mmaction2_checkpoint(to_mmaction2_layout(tiny(seed=1).state_dict())))
    url = server.publish(data)
    server.truncated.add(url[len(server.url) :])
    with pytest.raises(FileNotFoundError, match="incomplete download"):
        load_pretrained(tiny(), True, entry=tiny_entry(url), progress=False)
    assert files_in(caches["cache"]) == []


def test_no_network_error_names_what_was_tried(closed_url: str, caches: dict[str, Path]) -> None:
    with pytest.raises(FileNotFoundError) as info:
        load_pretrained(tiny(), True, entry=tiny_entry(closed_url), progress=False)
    msg = str(info.value)
    assert str(caches["cache"] / "tsm_r50.tiny_tsm_test-01234567.safetensors") in msg
    assert "Hugging Face Hub tsm-models/tsm_r50.tiny_tsm_test" in msg
    assert f"download {closed_url}" in msg
    assert "pretrained='/path/to/tiny_1x1x4_kinetics400_rgb_20200607-01234567.pth'" in msg
    assert files_in(caches["cache"]) == []


def test_create_model_pretrained_true_offline(caches: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    entry = ZOO["tsm_r50.mm0_8f_340x256_k400"]
    with pytest.raises(FileNotFoundError, match=f"(?s)tsm-models/{entry.name}.*{entry.url}.*name resolution"):
        tsm_models.create_model(entry.name, pretrained=True)


# ---------------------------------------------------------------------------------------------------------
# Malformed checkpoints: clear error, nothing cached (URL path) / nothing loaded (path)


def _malformed(kind: str) -> tuple[bytes, type[Exception], str]:
    sd = to_mmaction2_layout(tiny(seed=1).state_dict())
    if kind == "missing_key":
        del sd["backbone.layer2.0.conv2.conv.weight"]
        return (
            checkpoint_bytes(mmaction2_checkpoint(sd)),
            ValueError,
            r"missing from the checkpoint: \[layer2\.0\.conv2",
        )
    if kind == "extra_key":
        sd["backbone.layer2.0.conv7.conv.weight"] = torch.zeros(1)
        return checkpoint_bytes(mmaction2_checkpoint(sd)), ValueError, r"layer2\.0\.conv7\.conv\.weight -> layer2"
    if kind == "wrong_shape":
        sd["backbone.layer3.0.conv1.conv.net.weight"] = torch.zeros(32, 16, 1, 1)
        return checkpoint_bytes(mmaction2_checkpoint(sd)), ValueError, r"shape of 'backbone\.layer3\.0\.conv1\.conv"
    if kind == "wrong_classes":
        sd["cls_head.fc_cls.weight"] = torch.zeros(7, 64)
        sd["cls_head.fc_cls.bias"] = torch.zeros(7)
        return checkpoint_bytes(mmaction2_checkpoint(sd)), ValueError, r"classifier has 7 classes"
    if kind == "not_a_checkpoint":
        return (
            b"<html><body>404 Not Found</body></html>\n",
            ValueError,
            r"not a PyTorch checkpoint \(expected a torch.save zip or pickle",
        )
    if kind == "forbidden_global":
        return (
            pickle_with_forbidden_global(sd),
            ValueError,
            r"refused by safe loading.*calls _weights_utils\._not_to_be_called",
        )
    raise AssertionError(kind)


MALFORMED = ["missing_key", "extra_key", "wrong_shape", "wrong_classes", "not_a_checkpoint", "forbidden_global"]


@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_download_is_rejected_and_not_cached(kind: str, server: Server, caches: dict[str, Path]) -> None:
    data, error, pattern = _malformed(kind)
    with pytest.raises(error, match=pattern):
        load_pretrained(tiny(), True, entry=tiny_entry(server.publish(data)), progress=False)
    assert files_in(caches["cache"]) == []
    assert payload_calls() == []


@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_file_is_rejected(kind: str, tmp_path: Path) -> None:
    data, error, pattern = _malformed(kind)
    path = tmp_path / "bad.pth"
    path.write_bytes(data)
    model = tiny(seed=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(error, match=pattern):
        load_pretrained(model, path, entry=tiny_entry("http://unused/x.pth"))
    assert_same_weights(model, before)  # nothing half-loaded
    assert payload_calls() == []


def test_missing_file_and_bad_argument(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_pretrained(tiny(), tmp_path / "nope.pth")
    with pytest.raises(TypeError, match="pretrained must be"):
        load_pretrained(tiny(), 3)
    with pytest.raises(ValueError, match=r"needs a checkpoint name \(arch\.tag\)"):
        load_pretrained(tiny(), True)
    with pytest.raises(FileNotFoundError, match=r"without model\.safetensors"):
        load_pretrained(tiny(), tmp_path)


# ---------------------------------------------------------------------------------------------------------
# Hub path and cache order


def test_hub_is_used_before_the_url(tmp_path: Path, caches: dict[str, Path], closed_url: str) -> None:
    source = tiny(seed=3).state_dict()
    config = {"architecture": "tiny", "num_classes": 5, "model_args": {"num_classes": 5, "num_segments": 4}}
    files = {"model.safetensors": safetensors_bytes(source, tmp_path), "config.json": json.dumps(config).encode()}
    plant_hub_repo(caches["hf"], "tsm-models/tsm_r50.tiny_tsm_test", files)
    model = tiny()
    load_pretrained(model, True, entry=tiny_entry(closed_url), progress=False)  # the URL would fail
    assert_same_weights(model, source)
    assert files_in(caches["cache"]) == []  # the Hub has its own cache


def test_local_cache_comes_first(tmp_path: Path, caches: dict[str, Path], closed_url: str) -> None:
    plant_hub_repo(caches["hf"], "tsm-models/tsm_r50.tiny_tsm_test", {"model.safetensors": b"not used"})
    cached = tiny(seed=4).state_dict()
    caches["cache"].mkdir()
    save_file(cached, str(caches["cache"] / "tsm_r50.tiny_tsm_test-01234567.safetensors"))
    model = tiny()
    load_pretrained(model, True, entry=tiny_entry(closed_url), progress=False)
    assert_same_weights(model, cached)


def test_broken_hub_weights_raise_instead_of_falling_through(
    tmp_path: Path, caches: dict[str, Path], closed_url: str
) -> None:
    source = tiny(seed=3).state_dict()
    del source["layer4.0.bn2.weight"]
    files = {"model.safetensors": safetensors_bytes(source, tmp_path), "config.json": b"{}"}
    plant_hub_repo(caches["hf"], "tsm-models/tsm_r50.tiny_tsm_test", files)
    with pytest.raises(ValueError, match=r"missing from the checkpoint: \[layer4\.0\.bn2\.weight\]"):
        load_pretrained(tiny(), True, entry=tiny_entry(closed_url), progress=False)


# ---------------------------------------------------------------------------------------------------------
# Classifier change, ImageNet


def test_other_num_classes_keeps_new_classifier(tmp_path: Path) -> None:
    source = tiny(seed=5).state_dict()
    path = tmp_path / "mm.pth"
    torch.save(mmaction2_checkpoint(to_mmaction2_layout(source)), path)
    model = tiny(num_classes=3)
    fresh_fc = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("fc.")}
    load_pretrained(model, path, entry=tiny_entry("http://unused/x.pth"))
    assert_same_weights(model, {**source, **fresh_fc})
    assert model.fc.out_features == 3


@pytest.fixture
def imagenet_resnet18(tmp_path: Path, caches: dict[str, Path]) -> dict[str, torch.Tensor]:
    import timm

    resnet = timm.create_model("resnet18")
    with torch.no_grad():
        for t in resnet.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=torch.Generator().manual_seed(t.numel())))
    state = resnet.state_dict()
    plant_hub_repo(caches["hf"], "timm/resnet18.tv_in1k", {"model.safetensors": safetensors_bytes(state, tmp_path)})
    return state


def test_imagenet_weights_from_timm(imagenet_resnet18: dict[str, torch.Tensor]) -> None:
    model = tsm_models.create_model("tsm_r18", pretrained="imagenet", num_classes=10, num_segments=4)
    ours = model.state_dict()
    assert torch.equal(ours["layer1.0.conv1.net.weight"], imagenet_resnet18["layer1.0.conv1.weight"])
    for key, value in imagenet_resnet18.items():
        if not key.startswith("fc."):
            assert torch.equal(ours[re.sub(r"^(layer\d\.\d+\.conv1)\.", r"\1.net.", key)], value), key
    assert ours["fc.weight"].shape == (10, 512)  # the ImageNet classifier is not loaded


def test_imagenet_offline_without_cache(caches: dict[str, Path]) -> None:
    with pytest.raises(FileNotFoundError, match=r"resnet18\.tv_in1k"):
        tsm_models.create_model("tsm_r18", pretrained="imagenet")


def test_plain_meta_types_load_safely(tmp_path: Path) -> None:
    """mmengine/timm put numpy scalars and argparse.Namespace into meta; the allow-list admits exactly those."""
    import argparse

    import numpy as np

    source = tiny(seed=6).state_dict()
    meta = {"seed": np.int64(3), "lr": np.float32(0.01), "hist": np.arange(3), "args": argparse.Namespace(a=1)}
    path = tmp_path / "mm.pth"
    torch.save({"meta": meta, "state_dict": to_mmaction2_layout(source)}, path)
    model = tiny()
    load_pretrained(model, path)
    assert_same_weights(model, source)
    assert tsm_models.read_checkpoint(path).meta["seed"] == 3


def test_interrupted_write_leaves_nothing(tmp_path: Path) -> None:
    from tsm_models._io import atomic_write

    target = tmp_path / "cache" / "weights.safetensors"
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as f:
        f.write(b"half of the")
        raise KeyboardInterrupt
    assert files_in(tmp_path / "cache") == []
    with atomic_write(target) as f:
        f.write(b"complete")
    assert files_in(tmp_path / "cache") == ["weights.safetensors"] and target.read_bytes() == b"complete"


def test_cache_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tsm_models.models import get_cache_dir

    monkeypatch.delenv("TSM_MODELS_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert get_cache_dir() == tmp_path / "xdg" / "tsm_models"
    monkeypatch.setenv("TSM_MODELS_CACHE", str(tmp_path / "env"))
    assert get_cache_dir() == tmp_path / "env"
    assert get_cache_dir(tmp_path / "arg") == tmp_path / "arg"


def test_http_error_is_reported(server: Server, caches: dict[str, Path]) -> None:
    url = server.url + "/tsm/missing_20200607-01234567.pth"  # the server answers 404
    with pytest.raises(FileNotFoundError, match=f"download {url}: could not download {url}: Not Found"):
        load_pretrained(tiny(), True, entry=tiny_entry(url), progress=False)
    assert files_in(caches["cache"]) == []


def test_create_model_cache_dir_argument(tmp_path: Path, caches: dict[str, Path], monkeypatch) -> None:
    """``create_model(..., cache_dir=...)`` (also through timm.create_model) reads the converted weights there."""

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    entry = ZOO["tsm_r50.mm0_8f_200616_sthv1"]
    source = tsm_models.create_model(entry.name).state_dict()
    source = {k: v + 0.5 if v.is_floating_point() else v for k, v in source.items()}  # differ from a fresh init
    cache = tmp_path / "my_cache"
    cache.mkdir()
    save_file(source, str(cache / f"{entry.name}-{entry.sha256_prefix}.safetensors"))
    model = tsm_models.create_model(entry.name, pretrained=True, cache_dir=cache)
    assert_same_weights(model, source)
    with pytest.raises(FileNotFoundError, match="could not get the pretrained weights"):
        tsm_models.create_model(entry.name, pretrained=True)  # the default cache ($TSM_MODELS_CACHE) is empty
