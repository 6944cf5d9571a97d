"""hangapp: a socket-mode worker for procmon's heartbeat tests.

Serves HTTP on fd 3 (the shared socket) with Python's socketserver: one
request at a time (a pre-fork worker, as gunicorn's sync workers are), or
a thread per request with HANGAPP_THREADED=1. Its answers carry
X-Worker: gen=<generation> worker=<WORKER_ID> pid=<pid>, in the body too.

  GET /                          ok
  GET /hang?worker=N&how=spin    the worker with WORKER_ID N hangs in this
                                 handler: a busy loop (how=spin) or a sleep
                                 (how=sleep), forever; any other worker
                                 answers 409 at once
  GET /slow?s=S                  answers after S seconds

While a file "broken" exists in its directory, GET / answers 500.
"""

import os
import socket
import time
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LABEL = "gen=%s worker=%s pid=%d" % (os.environ.get("PROCMON_GENERATION"), os.environ.get("WORKER_ID"), os.getpid())


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        if url.path == "/hang":
            if q.get("worker", [""])[0] != os.environ.get("WORKER_ID"):
                return self.answer(409, "not me: " + LABEL)
            print("hanging in a handler (%s), as asked" % q.get("how", ["spin"])[0], flush=True)
            if q.get("how", ["spin"])[0] == "sleep":
                while True:
                    time.sleep(3600)
            while True:
                pass
        if url.path == "/slow":
            time.sleep(float(q.get("s", ["1"])[0]))
        if url.path == "/" and os.path.exists("broken"):
            return self.answer(500, "broken " + LABEL)
        self.answer(200, "ok " + LABEL)

    def answer(self, code, text):
        body = (text + "\n").encode()
        self.send_response(code)
        self.send_header("X-Worker", LABEL)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        raise SystemExit("hangapp: no shared socket for this process (LISTEN_PID)")
    base = ThreadingHTTPServer if os.environ.get("HANGAPP_THREADED") == "1" else HTTPServer
    srv = base(("127.0.0.1", 0), Handler, bind_and_activate=False)
    srv.socket.close()
    srv.socket = socket.socket(fileno=3)
    print("serving on fd 3", flush=True)
    srv.serve_forever()


main()
