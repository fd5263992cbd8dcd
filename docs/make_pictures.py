"""Draw the pictures of docs/tools.md with the video tools themselves, from synthetic test videos.

    python docs/make_pictures.py            # writes docs/images/tools/*  (about a minute on a laptop CPU)

No download: a tiny TSM (ResNet of 8-16 channels) is trained here for a few hundred steps on synthetic clips of a
square moving right, moving left or standing still; then each tool runs on a synthetic video, exactly as the
`tsm-models` commands run them (the commands call these functions):

* timeline.png      ``tsm-models timeline long.mp4 --plot timeline.png`` (right, still, left, right: 16 s)
* labelled.png      one frame of ``tsm-models timeline long.mp4 --out-video labelled.mp4``
* strip.png         ``tsm-models predict clip.mp4 --out-image strip.png``
* cam.png, cam.gif  ``tsm-models cam clip.mp4 --out cam.png`` (Grad-CAM of the predicted class)
* live.txt          ``tsm-models live --source long.mp4 --every 6 --smooth 4`` (JSON lines), with an online twin of
                    the model
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import torch
from timm.models.resnet import BasicBlock

from tsm_models import timeline
from tsm_models.apps import cam_video, encode_video, write_gif, write_labelled_video, write_strip
from tsm_models.apps.live import run_live
from tsm_models.data.video import open_video
from tsm_models.inference import VideoClassifier
from tsm_models.models import TSM
from tsm_models.models.zoo import ClipProtocol

CLASSES = ["moving right", "standing still", "moving left"]
W, H, SIDE, FPS = 64, 48, 12, 25
PROTOCOL = ClipProtocol(num_frames=4, resize_short=48, crop_size=48, input_format="video", start_index=0)


def square_frames(
    n: int, velocity: float, rng: np.random.Generator, x0: float | None = None, at: list[int] | None = None
) -> np.ndarray:
    """``(n, H, W, 3)`` uint8: a coloured square on a noisy dark background, moving ``velocity`` px per frame
    (``at``: only those frames of the ``n``)."""
    colour = rng.integers(120, 256, 3)
    x = rng.uniform(0, W) if x0 is None else x0
    y = rng.integers(4, H - SIDE - 4)
    base = rng.integers(10, 50, (H, W, 3))
    frames = list(range(n)) if at is None else at
    out = np.empty((len(frames), H, W, 3), np.uint8)
    for k, i in enumerate(frames):
        f = base + rng.integers(0, 12, (H, W, 3))
        left = int(np.round(x + i * velocity)) % W
        cols = (np.arange(SIDE) + left) % W  # wraps around the frame edge
        f[y : y + SIDE][:, cols] = colour
        out[k] = np.clip(f, 0, 255)
    return out


def velocity_of(label: int, rng: np.random.Generator) -> float:
    return [1, 0, -1][label] * rng.uniform(0.8, 1.6)


def model(online: bool = False, seed: int = 0) -> TSM:
    torch.manual_seed(seed)
    net = TSM(
        BasicBlock,
        (1, 1, 1, 1),
        num_classes=len(CLASSES),
        num_segments=4,
        channels=(8, 16, 16, 16),
        stem_width=8,
        dropout=0.0,
        shift_direction="online" if online else "bidirectional",
    )
    net.label_names = list(CLASSES)
    return net


def train(net: TSM, steps: int, seed: int = 0) -> TSM:
    """Clips of 4 frames spaced like the timeline's 1 s windows (every ~6 frames)."""
    rng = np.random.default_rng(seed)
    transform = VideoClassifier(net, labels=CLASSES, protocol=PROTOCOL).transform
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.train()
    for step in range(steps):
        labels = rng.integers(0, 3, 16)
        clips = []
        for lab in labels:
            frames = square_frames(25, velocity_of(int(lab), rng), rng, at=[3, 9, 15, 21])  # 1 s: 4 segments
            clips.append(transform(frames)[0])  # (T, 3, S, S)
        loss = torch.nn.functional.cross_entropy(net(torch.stack(clips)), torch.as_tensor(labels))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step:4d}  loss {loss.item():.3f}")
    return net.eval()


def long_video(path: Path, seed: int = 1) -> Path:
    """16 s: right (4 s), still (4 s), left (4 s), right (4 s); one square, continuous."""
    rng = np.random.default_rng(seed)
    parts, x = [], 10.0
    for label in (0, 1, 2, 0):
        v = velocity_of(label, rng)
        parts.append(square_frames(4 * FPS, v, np.random.default_rng(seed), x0=x))
        x += v * 4 * FPS
    encode_video(np.concatenate(parts), path, FPS)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "images" / "tools")
    parser.add_argument("--steps", type=int, default=150)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    tmp = Path(tempfile.mkdtemp())
    video = long_video(tmp / "long.mp4")
    clip = tmp / "clip.mp4"
    encode_video(square_frames(FPS, -1.2, np.random.default_rng(7)), clip, FPS)

    net = train(model(), args.steps)
    clf = VideoClassifier(net, labels=CLASSES, protocol=PROTOCOL)
    tl = timeline(clf, video, window=1.0, stride=0.25, topk=3)
    tl.plot(args.out / "timeline.png", title="tsm-models timeline long.mp4 --window-seconds 1 --stride-seconds 0.25")
    with open_video(video) as r:  # a 4x larger copy, so the drawn labels are legible in the picture
        big = np.stack([f.repeat(4, 0).repeat(4, 1) for f in r.iter_frames()])
    write_labelled_video(big, tmp / "labelled.mp4", tl.labels_at, title="timeline, window at 9.5 s", fps=FPS)
    with open_video(tmp / "labelled.mp4") as r:
        frame = r.read([int(9.5 * FPS)])[0]
    from PIL import Image

    Image.fromarray(frame).save(args.out / "labelled.png")
    top = clf(clip, topk=3)
    write_strip(clf.load(clip)[:4], args.out / "strip.png", top, title="tsm-models predict clip.mp4 --out-image")
    result = cam_video(clf, clip)
    write_strip(result.overlays(), args.out / "cam.png", [(result.label, result.probability)], title="Grad-CAM")
    write_gif(np.repeat(np.repeat(result.overlays(), 4, 1), 4, 2), args.out / "cam.gif", fps=2)

    online = model(online=True)
    online.load_state_dict(net.state_dict())  # the same weights with the online shift (for the streaming demo)
    online = train(online, args.steps // 2, seed=1)  # a short fine-tune to the one-way shift
    buf = io.StringIO()
    with redirect_stdout(buf):
        # every 6th frame: the spacing of the training clips' frames (the shift looks one processed frame back)
        for change in run_live(online, str(video), labels=CLASSES, every=6, smooth=4):
            print(json.dumps(change.to_dict()))
    (args.out / "live.txt").write_text(buf.getvalue())
    print(f"timeline: {[w.labels[0][0] for w in tl[::8]]}")
    print(f"predict clip.mp4: {top}")
    print(f"wrote {sorted(p.name for p in args.out.iterdir())} to {args.out}")


if __name__ == "__main__":
    main()
