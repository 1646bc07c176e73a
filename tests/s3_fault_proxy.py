#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for the S3 backend's tests (standard library only).

    s3_fault_proxy.py LISTEN_PORT UPSTREAM_PORT PIDFILE

Forwards every request to 127.0.0.1:UPSTREAM_PORT unchanged (the Host header too, since it is
signed), unless a fault is armed:
    GET /__fault__?mode=fail|hang|drop|corrupt|pass&count=N&match=TEXT
arms a fault for the next N requests whose "METHOD /path?query" contains TEXT: fail answers 500
InternalError, hang holds the request without answering for 30 s, drop closes the connection
without an answer, corrupt flips a bit of the body on its way to the server, lose forwards the
request and then drops the connection instead of passing the answer back. GET /__fault__/stats returns {"requests": ["METHOD /path?query", ...],
"injected": N} and GET /__fault__/reset clears both.
"""
import http.client
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse

LOCK = threading.Lock()
STATE = {"mode": "pass", "count": 0, "match": "", "requests": [], "injected": 0}
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = 0

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/xml"):
        self.send_response_only(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def control(self):
        url = urllib.parse.urlsplit(self.path)
        with LOCK:
            if url.path == "/__fault__/stats":
                body = json.dumps({"requests": STATE["requests"], "injected": STATE["injected"]}).encode()
                return self.reply(200, body, "application/json")
            if url.path == "/__fault__/reset":
                STATE.update(mode="pass", count=0, match="", requests=[], injected=0)
                return self.reply(200, b"{}", "application/json")
            q = urllib.parse.parse_qs(url.query)
            mode = q.get("mode", ["pass"])[0]
            if mode not in ("pass", "fail", "hang", "drop", "corrupt", "lose"):
                return self.reply(400, b"bad mode", "text/plain")
            STATE.update(mode=mode, count=int(q.get("count", ["1"])[0]), match=q.get("match", [""])[0])
        return self.reply(200, b"{}", "application/json")

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/__fault__"):
            return self.control()
        line = "%s %s" % (self.command, self.path)
        fault = None
        with LOCK:
            STATE["requests"].append(line)
            del STATE["requests"][:-2000]
            if STATE["mode"] != "pass" and STATE["count"] > 0 and STATE["match"] in line:
                STATE["count"] -= 1
                STATE["injected"] += 1
                fault = STATE["mode"]
        if fault == "fail":
            return self.reply(500, b"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>InternalError</Code>"
                                   b"<Message>injected by the test proxy</Message></Error>")
        if fault in ("hang", "drop"):
            if fault == "hang":
                time.sleep(30)
            self.close_connection = True
            return
        if fault == "corrupt" and body:
            body = bytes([body[0] ^ 1]) + body[1:]
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=60)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in HOP:
                    conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            if fault == "lose":
                self.close_connection = True
                return
            self.send_response_only(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP:
                    self.send_header(k, v)
            if self.command == "HEAD":
                self.send_header("Content-Length", resp.getheader("Content-Length", "0"))
            else:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        finally:
            conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def main():
    listen, upstream, pidfile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    Handler.upstream = upstream
    server = http.server.ThreadingHTTPServer(("127.0.0.1", listen), Handler)
    server.daemon_threads = True
    with open(pidfile, "w") as f:
        f.write(str(os.getpid()))
    server.serve_forever()


if __name__ == "__main__":
    main()
