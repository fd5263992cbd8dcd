"""A loopback HTTP file server (127.0.0.1, a free port) with byte-range support, for URL-input tests."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _RangeHandler(SimpleHTTPRequestHandler):
    """Static files with ``Range: bytes=a-b`` answered by 206 (as real web servers do), quiet."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send_head(self):  # type: ignore[no-untyped-def]
        header = self.headers.get("Range")
        path = self.translate_path(self.path)
        if not header or not header.startswith("bytes=") or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        first, _, last = header[len("bytes=") :].partition("-")
        start = int(first) if first else max(0, size - int(last))
        end = int(last) if first and last else size - 1
        if start >= size:
            self.send_error(416, "Requested Range Not Satisfiable")
            return None
        f = open(path, "rb")  # noqa: SIM115 - closed by the base class's copyfile caller
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self._remaining = end - start + 1
        return f

    def end_headers(self) -> None:
        if not self.headers.get("Range"):
            self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def copyfile(self, source, outputfile) -> None:  # type: ignore[no-untyped-def]
        remaining = getattr(self, "_remaining", None)
        if remaining is None:
            return super().copyfile(source, outputfile)
        while remaining > 0:
            chunk = source.read(min(65536, remaining))
            if not chunk:
                break
            try:
                outputfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):  # FFmpeg closes early after reading what it needs
                break
            remaining -= len(chunk)
        return None


@contextlib.contextmanager
def serve_directory(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on ``http://127.0.0.1:<port>``; yields the base URL (no trailing slash)."""
    handler = functools.partial(_RangeHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url(name: str = "video.mp4") -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"
