"""Run the web app with uvicorn: in the foreground (``kymotrace serve``) or in a background thread
(tests, the screenshot tool).

The listening socket is bound here, before uvicorn starts, so that a port in use is a clear
:class:`~kymotrace.errors.OptionError` and port 0 gives a free port whose number is known.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from typing import Iterator

from ..errors import OptionError

__all__ = ["bind", "is_loopback", "serve", "background_server"]


def is_loopback(host: str) -> bool:
    """True when ``host`` is only reachable from this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free port)."""
    if not 0 <= int(port) <= 65535:
        raise OptionError(f"port must be between 0 and 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OptionError(f"cannot use host {host!r}: {exc.strerror}; give an address of this machine, e.g. 127.0.0.1 or 0.0.0.0") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        why = "it is in use" if exc.errno in (98, 48) else (exc.strerror or str(exc))
        raise OptionError(f"cannot listen on {host}:{port}: {why}; choose another --port (or --host)") from None
    sock.set_inheritable(True)
    return sock


def _server(app, log_level: str):
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on", timeout_graceful_shutdown=5)
    return uvicorn.Server(config)


def serve(app, sock: socket.socket, *, log_level: str = "info") -> None:
    """Serve ``app`` on ``sock`` until Ctrl-C (uvicorn handles the signal and shuts down cleanly)."""
    server = _server(app, log_level)
    server.run(sockets=[sock])
    if not server.started:
        raise OptionError("the web app did not start (see the messages above)")


@contextlib.contextmanager
def background_server(app, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 120.0,
                      log_level: str = "warning") -> Iterator[str]:
    """Run ``app`` in a daemon thread (uvicorn leaves signals alone off the main thread); yields
    its base URL (``http://host:port``) once it accepts requests; stops it on exit."""
    sock = bind(host, port)
    actual = sock.getsockname()[1]
    server = _server(app, log_level)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=run, name="kymotrace-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if errors or not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(10)
            sock.close()
            raise RuntimeError(f"the web app did not start: {errors[0] if errors else 'timeout'}")
        time.sleep(0.05)
    url = f"http://{host if ':' not in host else f'[{host}]'}:{actual}"
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()
