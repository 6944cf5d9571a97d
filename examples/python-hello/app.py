#!/usr/bin/env python3
"""python-hello: the Python sample app for deploy and procmon.

Standard library only (http.server.ThreadingHTTPServer):

  GET /            hello from <version>
  GET /health      ok
  GET /slow?ms=N   headers at once, body after N ms (at most 10 s): watch a
                   reload drain a request in flight

Listens on HOST:PORT (default 127.0.0.1:8080; procmon gives each worker its
own PORT in proxy mode). On SIGTERM or SIGINT it stops accepting, lets
requests in flight finish (up to 25 s) and exits 0; a second signal exits at
once. When $NOTIFY_SOCKET is set it sends READY=1 once serving.

The version is the first of: a VERSION file, the REVISION file deploy writes
into each release (the full commit sha), $APP_VERSION, "unknown"; files are
looked for in the working directory, then next to this file.
"""

import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DRAIN_SECONDS = 25  # below procmon's default stop_timeout of 30 s
MAX_SLOW_MS = 10000


def read_version():
    dirs = [os.getcwd(), os.path.dirname(os.path.abspath(__file__))]
    for name in ("VERSION", "REVISION"):
        for d in dirs:
            try:
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    v = f.read().strip()
            except FileNotFoundError:
                continue
            if v:
                return v
    return os.environ.get("APP_VERSION") or "unknown"


class Handler(BaseHTTPRequestHandler):
    """Handler answers the three endpoints; HTTP/1.0, one request per
    connection, so a drain never waits on an idle keep-alive."""

    server_version = "python-hello"
    version = "unknown"

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/":
            self.text(200, "hello from %s\n" % self.version)
        elif url.path == "/health":
            self.text(200, "ok\n")
        elif url.path == "/slow":
            self.slow(parse_qs(url.query).get("ms", ["1000"])[0])
        else:
            self.text(404, "not found\n")

    def text(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def slow(self, ms):
        """Send the headers at once and the body later, so a client that has
        seen the headers knows its request is in flight."""
        if not ms.isdigit():
            self.text(400, "ms must be a whole number of milliseconds, e.g. /slow?ms=500\n")
            return
        ms = min(int(ms), MAX_SLOW_MS)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        self.wfile.flush()
        time.sleep(ms / 1000)
        self.wfile.write(("slow done after %dms\n" % ms).encode())

    def log_message(self, fmt, *args):
        sys.stderr.write("python-hello: %s %s\n" % (self.address_string(), fmt % args))


class Server(ThreadingHTTPServer):
    """Server joins its request threads on close, so requests in flight
    finish before the process exits."""

    daemon_threads = False
    block_on_close = True


def notify(state):
    """Send one sd_notify state (READY=1) to $NOTIFY_SOCKET, if set."""
    path = os.environ.get("NOTIFY_SOCKET", "")
    if not path:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(path)
        s.send(state.encode())


def main():
    version = read_version()
    Handler.version = version
    host = os.environ.get("HOST") or "127.0.0.1"
    port = os.environ.get("PORT") or "8080"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        sys.exit("python-hello: error: PORT=%r is not a port number: set PORT to 1-65535" % port)
    try:
        server = Server((host, int(port)), Handler)
    except OSError as e:
        sys.exit("python-hello: error: listen on %s:%s: %s (set PORT to a free port)" % (host, port, e))

    stop = threading.Event()

    def on_signal(signum, _frame):
        if stop.is_set():
            os._exit(1)  # second signal: no more waiting
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    serving = threading.Thread(target=server.serve_forever, name="serve")
    serving.start()
    print("python-hello %s serving on %s:%s (pid %d)" % (version, host, port, os.getpid()), flush=True)
    try:
        notify("READY=1")
    except OSError as e:
        print("python-hello: warning: notify READY=1: %s" % e, file=sys.stderr, flush=True)

    while not stop.wait(0.2):
        pass
    print("python-hello: stopping: finishing requests in flight (up to %ds)" % DRAIN_SECONDS, flush=True)
    server.shutdown()  # stop accepting; serve_forever returns
    serving.join()
    closer = threading.Thread(target=server.server_close, name="drain", daemon=True)
    closer.start()  # closes the listener, then joins the request threads
    closer.join(DRAIN_SECONDS)
    if closer.is_alive():
        print("python-hello: drain timed out; exiting with requests still open", file=sys.stderr, flush=True)
        os._exit(1)
    print("python-hello: stopped", flush=True)


if __name__ == "__main__":
    main()
