"""Issue 16, items 1, 4, 7, 8, 9, 10, 11 on the weights side: checkpoints, saved folders, downloads, the cache."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

import tsm_models
from tsm_models.models import _download, _hub
from tsm_models.models._pretrained import resolve_pretrained

ARGS = dict(num_segments=4, num_classes=5)


@pytest.fixture(scope="module")
def r18() -> dict[str, torch.Tensor]:
    """State dict of a 5-class tsm_r18 with a recognisable classifier."""
    model = tsm_models.create_model("tsm_r18", **ARGS)
    with torch.no_grad():
        model.fc.weight.normal_(generator=torch.Generator().manual_seed(0))
    return {k: v.clone() for k, v in model.state_dict().items()}


def _load(path: Path, **kwargs: Any) -> torch.nn.Module:
    return tsm_models.create_model("tsm_r18", pretrained=str(path), **{**ARGS, **kwargs})


# --- item 1: the class count comes from the checkpoint --------------------------------------------------------


@pytest.mark.parametrize("kind", ["safetensors", "pth", "folder"])
def test_class_count_is_taken_from_the_checkpoint(r18, tmp_path: Path, kind: str) -> None:
    if kind == "safetensors":
        path = tmp_path / "ft.safetensors"
        save_file({k: v.contiguous() for k, v in r18.items()}, str(path))
    elif kind == "pth":
        path = tmp_path / "ft.pth"
        torch.save({"state_dict": r18}, path)
    else:
        path = tmp_path / "saved"
        _load_model(r18).save_pretrained(path)
    model = tsm_models.create_model("tsm_r18", pretrained=str(path), num_segments=4)  # no num_classes
    assert model.num_classes == 5
    assert torch.equal(model.fc.weight, r18["fc.weight"])
    fresh = tsm_models.create_model("tsm_r18", pretrained=str(path), num_segments=4, num_classes=7)  # explicit
    assert fresh.num_classes == 7 and torch.equal(fresh.layer1[0].conv1.net.weight, r18["layer1.0.conv1.net.weight"])


def _load_model(state: dict[str, torch.Tensor]) -> torch.nn.Module:
    model = tsm_models.create_model("tsm_r18", **ARGS)
    model.load_state_dict(state)
    return model


# --- item 10: values in checkpoints ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["int64", "bool", "nan", "inf"])
def test_checkpoint_values_are_checked(r18, tmp_path: Path, kind: str) -> None:
    state = {k: v.clone() for k, v in r18.items()}
    if kind == "int64":
        state = {k: (v * 1000).long() if v.is_floating_point() else v for k, v in state.items()}
    elif kind == "bool":
        state = {k: v > 0 if v.is_floating_point() else v for k, v in state.items()}
    elif kind == "nan":
        state["layer1.0.conv1.net.weight"][0, 0, 0, 0] = float("nan")
    else:
        state["layer4.0.bn2.running_var"][:] = float("inf")
    path = tmp_path / f"{kind}.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    match = {"int64": "int64", "bool": "bool", "nan": "layer1.0.conv1", "inf": "layer4.0.bn2.running_var"}[kind]
    with pytest.raises(ValueError, match=match):
        _load(path)


def test_fp16_checkpoint_still_loads(r18, tmp_path: Path) -> None:
    path = tmp_path / "half.safetensors"
    save_file({k: v.half().contiguous() if v.is_floating_point() else v for k, v in r18.items()}, str(path))
    assert _load(path).fc.weight.dtype == torch.float32


# --- item 8: refusals that help ------------------------------------------------------------------------------


class Payload:
    def __reduce__(self):
        return (os.system, ("echo never-run",))


@pytest.mark.parametrize("where", ["plain", "in_state_dict"])
def test_pickle_refusal_names_the_global(r18, tmp_path: Path, where: str) -> None:
    path = tmp_path / f"{where}.pth"
    if where == "plain":
        path.write_bytes(pickle.dumps({"meta": Payload(), "state_dict": {"conv1.weight": 1}}, protocol=2))
    else:
        torch.save({"state_dict": {**r18, "evil": Payload()}}, path)
    with pytest.raises(ValueError, match=r"system") as info:
        _load(path)
    text = str(info.value)
    assert path.name in text and "weights_only=False" not in text and "likely succeed" not in text


# --- item 11: a FIFO is refused, not opened ----------------------------------------------------------------


def test_fifo_as_pretrained_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.pth"
    os.mkfifo(fifo)
    result: list[BaseException] = []

    def run() -> None:
        try:
            _load(fifo)
        except BaseException as exc:  # reported to the main thread
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(20)
    if thread.is_alive():  # unblock the open() so the thread ends, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("create_model(pretrained=FIFO) blocked")
    assert isinstance(result[0], ValueError) and "fifo.pth" in str(result[0])


# --- items 7 and 9: saved folders ---------------------------------------------------------------------------


@pytest.fixture
def saved(r18, tmp_path: Path) -> Path:
    return _load_model(r18).save_pretrained(tmp_path / "saved")


def test_save_refuses_a_folder_holding_other_files(r18, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "README.md").write_text("# mine\n")
    (project / "config.json").write_text('{"my": "settings"}')
    model = _load_model(r18)
    with pytest.raises(FileExistsError, match="overwrite"):
        model.save_pretrained(project)
    assert (project / "README.md").read_text() == "# mine\n"
    assert (project / "config.json").read_text() == '{"my": "settings"}'
    model.save_pretrained(project, overwrite=True)
    assert tsm_models.from_pretrained(project).num_classes == 5


def test_resave_over_a_previous_save_is_allowed(saved: Path, r18) -> None:
    model = _load_model(r18)
    with torch.no_grad():
        model.fc.bias.fill_(3.0)
    model.save_pretrained(saved)
    assert float(tsm_models.from_pretrained(saved).fc.bias[0]) == 3.0
    assert sorted(p.name for p in saved.parent.iterdir()) == ["saved"]  # no temporary folder left


def test_crash_during_save_keeps_the_old_folder_whole(saved: Path, r18, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tsm_models.create_model("tsm_r18", num_segments=8, num_classes=5)
    with torch.no_grad():
        model.fc.bias.fill_(7.0)

    def die(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt  # the instant between the weights and the config

    monkeypatch.setattr(_hub.json, "dump", die)
    with pytest.raises(KeyboardInterrupt):
        model.save_pretrained(saved)
    monkeypatch.undo()
    again = tsm_models.from_pretrained(saved)
    assert again.num_segments == 4 and float(again.fc.bias[0]) == float(r18["fc.bias"][0])


def test_mixed_folder_is_detected(saved: Path, r18, tmp_path: Path) -> None:
    # weights of one save next to the config of another (e.g. copied by hand): refused, not loaded silently
    other = _load_model(r18).save_pretrained(tmp_path / "other")
    (saved / "config.json").write_bytes((other / "config.json").read_bytes())
    with pytest.raises(ValueError, match=r"config\.json"):
        tsm_models.from_pretrained(saved)


@pytest.mark.parametrize(("key", "value"), [("checkpoint_path", "/any/local.pth"), ("frobnicate", 1)])
def test_config_model_args_are_filtered(saved: Path, key: str, value: Any) -> None:
    config = json.loads((saved / "config.json").read_text())
    config["model_args"][key] = value
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=key):
        tsm_models.from_pretrained(saved)


# --- items 4 and 11: downloads and the cache ------------------------------------------------------------------


class Server:
    """Loopback HTTP server: ``files[path] = bytes``; ``trickle`` paths send one byte every ``delay`` s."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.trickle: dict[str, float] = {}
        self.requests: list[str] = []
        self.stop_event = threading.Event()
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
                try:
                    if self.path in server.trickle:
                        for i in range(len(body)):
                            self.wfile.write(body[i : i + 1])
                            self.wfile.flush()
                            if server.stop_event.wait(server.trickle[self.path]):
                                return
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.stop_event.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.stop()


def test_download_has_an_overall_deadline(server: Server, tmp_path: Path) -> None:
    server.files["/slow.bin"] = b"x" * 400
    server.trickle["/slow.bin"] = 0.2  # never trips a per-read timeout
    start = time.monotonic()
    with pytest.raises(_download.DownloadError, match="deadline"):
        _download.download_url(server.url + "/slow.bin", tmp_path / "slow.bin", progress=False, deadline=1.5)
    assert time.monotonic() - start < 10
    assert not list(tmp_path.iterdir())  # nothing left behind


def test_default_deadline_scales_with_the_size() -> None:
    assert _download.download_deadline(None) >= 60
    assert _download.download_deadline(100 << 20) > _download.download_deadline(1 << 20)


def test_old_part_files_are_removed_on_the_next_download(server: Server, tmp_path: Path) -> None:
    old, fresh = tmp_path / ".a.pth.x1.part", tmp_path / ".b.pth.x2.part"
    old.write_bytes(b"dead run")
    fresh.write_bytes(b"running now")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    server.files["/c.bin"] = b"payload"
    _download.download_url(server.url + "/c.bin", tmp_path / "c.bin", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.pth.x2.part", "c.bin"]


def test_converted_file_carries_its_digest_and_is_verified(r18, tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    _download.save_safetensors_atomic(r18, path, {"format": "pt"})
    assert _download.verify_safetensors(path) is True
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 64] = b"\x7f" * 64  # bit rot in the tensor data
    path.write_bytes(bytes(raw))
    assert _download.verify_safetensors(path) is False
    path.write_bytes(bytes(raw[: len(raw) // 2]))
    assert _download.verify_safetensors(path) is False


def test_corrupt_cache_file_is_fetched_again(tiny_tsm, tmp_path: Path, server: Server) -> None:
    """A damaged cached .safetensors is discarded and the release downloaded again (bit flip, truncation)."""
    import dataclasses
    import io

    from _weights_utils import mmaction2_checkpoint, to_mmaction2_layout

    from tsm_models.models.zoo import ZOO

    model = tiny_tsm()
    buf = io.BytesIO()
    torch.save(mmaction2_checkpoint(to_mmaction2_layout(model.state_dict())), buf)
    data = buf.getvalue()
    prefix = hashlib.sha256(data).hexdigest()[:8]
    path = f"/tsm/tiny_1x1x4_kinetics400_rgb_20200607-{prefix}.pth"
    server.files[path] = data
    entry = dataclasses.replace(
        ZOO["tsm_r50.mm0_8f_340x256_k400"],
        tag="tiny_rel",
        url=server.url + path,
        num_classes=5,
        model_args={"num_segments": 4},
    )
    resolve_pretrained(model, entry, cache_dir=tmp_path, use_hub=False, progress=False)
    (cached,) = tmp_path.glob("*.safetensors")
    assert len(server.requests) == 1 and _download.verify_safetensors(cached)
    for damage in ("flip", "truncate"):
        raw = bytearray(cached.read_bytes())
        if damage == "flip":
            raw[len(raw) // 2 : len(raw) // 2 + 64] = b"\x7f" * 64
        else:
            raw = raw[: len(raw) // 2]
        cached.write_bytes(bytes(raw))
        _, state = resolve_pretrained(model, entry, cache_dir=tmp_path, use_hub=False, progress=False)
        assert _download.verify_safetensors(cached)
        assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert len(server.requests) == 3
    _, state = resolve_pretrained(model, entry, cache_dir=tmp_path, use_hub=False, progress=False)
    assert len(server.requests) == 3  # a sound cache file is used as it is
