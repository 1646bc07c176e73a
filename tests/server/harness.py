"""Starts and stops a real `cohort serve` for tests (standard library only).

    with CohortServer(bin_path) as srv:
        srv.url, srv.admin_password, srv.login() -> (opener with cookie, csrf), srv.token()

The server listens on 127.0.0.1 on a free port (--listen 127.0.0.1:0; the port is read from its
"listening" log line), keeps its data in a fresh temporary folder, and is stopped by PID.
"""
import http.cookiejar
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

ADMIN_PASSWORD = "test-admin-password-1"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def settle():
    """After a change that narrows access: under COHORT_TEST_ROLES the next request may reach
    another API replica, whose auth cache forgets the old state when the bus's auth.changed
    message reaches it (milliseconds). One process (serve) forgets before it replies."""
    if os.environ.get("COHORT_TEST_ROLES"):
        time.sleep(0.3)


class CohortServer:
    def __init__(self, binary, data_dir=None, extra_args=(), env=None, keep_data=False, verb="serve"):
        self.binary = binary
        self.verb = verb  # serve, api or worker
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="cohort-test-")
        self.extra_args = list(extra_args)
        self.env = env or {}
        self.keep_data = keep_data
        self.proc = None
        self.url = None
        self.log_lines = []
        self.admin_password = ADMIN_PASSWORD

    def start(self, timeout=20):
        env = dict(os.environ)
        env["COHORT_ADMIN_PASSWORD"] = self.admin_password
        env.update(self.env)
        args = [self.binary, self.verb, "--listen", "127.0.0.1:0", "--data_dir", self.data_dir,
                "--secure_cookies", "false"] + self.extra_args
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        port = None
        ready = threading.Event()

        def pump():
            nonlocal port
            for line in self.proc.stderr:
                self.log_lines.append(line.rstrip("\n"))
                if port is None:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if rec.get("msg") == "listening":
                        port = int(rec["port"])
                        ready.set()
            ready.set()

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        if not ready.wait(timeout) or port is None:
            self.stop()
            raise RuntimeError("cohort %s did not start:\n%s" % (self.verb, "\n".join(self.log_lines[-20:])))
        self.url = "http://127.0.0.1:%d" % port
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        if self.proc and self.proc.stderr:
            self._pump.join(10)  # the log reader ends at EOF
            self.proc.stderr.close()
        if rc not in (0, None, -signal.SIGKILL):
            # A sanitizer's report is the server's last words: show it where CI logs can see it.
            sys.stderr.write("cohort serve exited %d; its last log lines:\n%s\n"
                             % (rc, "\n".join(self.log_lines[-80:])))
        self.proc = None
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def cleanup(self):
        self.stop()
        if self.own_dir and not self.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # ---------------------------------------------------------------- HTTP helpers

    def request(self, method, path, body=None, token=None, headers=None, opener=None, raw=False):
        """Returns (status, parsed JSON or bytes, response headers)."""
        data = None
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            data = body.encode()
        elif isinstance(body, bytes):
            data = body
        if token:
            hdrs["Authorization"] = "Bearer " + token
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        open_ = (opener or urllib.request.build_opener()).open
        try:
            with open_(req, timeout=120) as resp:
                payload = resp.read()
                status, rh = resp.status, resp.headers
        except urllib.error.HTTPError as e:
            payload, status, rh = e.read(), e.code, e.headers
        if raw:
            return status, payload, rh
        ctype = rh.get("Content-Type", "")
        if ctype.startswith("application/json"):
            return status, json.loads(payload or b"null"), rh
        return status, payload, rh

    def login(self, user="admin", password=None):
        """Signs in with a cookie session: returns (opener, csrf token)."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        status, body, _ = self.request("POST", "/v1/auth/login",
                                       {"username": user, "password": password or self.admin_password},
                                       opener=opener)
        if status != 200:
            raise RuntimeError("login failed: %s %s" % (status, body))
        return opener, body["csrf_token"]

    def token(self, user="admin", password=None, name="test"):
        """A new API token for user (signs in, then creates the token with the CSRF header)."""
        opener, csrf = self.login(user, password)
        status, body, _ = self.request("POST", "/v1/tokens", {"name": name}, opener=opener,
                                       headers={"X-CSRF-Token": csrf})
        if status != 201:
            raise RuntimeError("token failed: %s %s" % (status, body))
        return body["token"]

    def wait_job(self, job_id, token, timeout=300):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, job, _ = self.request("GET", "/v1/jobs/" + job_id, token=token)
            if status != 200:
                raise RuntimeError("job %s: %s %s" % (job_id, status, job))
            if job["state"] in ("succeeded", "failed", "cancelled"):
                return job
            time.sleep(0.05)
        raise TimeoutError("job %s still running after %ss" % (job_id, timeout))


class ServerTestCase(unittest.TestCase):
    """One `cohort serve` ($COHORT_BIN, with SERVER_ARGS) for a test class, and a token of its
    administrator (tok, used by req); stopping it at the end must exit 0 (under ASan: with no leak
    reports). A subclass with more to set up calls super().setUpClass() first."""

    SERVER_ARGS = ()

    @classmethod
    def setUpClass(cls):
        binary = os.environ.get("COHORT_BIN", os.path.join(ROOT, "build", "cohort"))
        cls.srv = CohortServer(binary, extra_args=list(cls.SERVER_ARGS)).start()
        cls.tok = cls.srv.token()

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.srv.cleanup()
        assert rc == 0, "server exited with %s:\n%s" % (rc, "\n".join(cls.srv.log_lines[-30:]))

    def req(self, method, path, body=None, **kw):
        kw.setdefault("token", self.tok)
        return self.srv.request(method, path, body, **kw)
