"""Helpers for the cluster tests (test_cluster.py): PostgreSQL through psql, the S3 server through a
small SigV4 signer of our own (the access key has a colon, which curl's --aws-sigv4 cannot take),
and tests/s3_fault_proxy.py started and stopped by PID. Standard library only.

Everything here reads the variables tests/with-cluster.sh exports: COHORT_TEST_PG_URL,
COHORT_TEST_PG_DIR, COHORT_TEST_PG_PORT, COHORT_TEST_S3_BUCKET and the AWS_* credentials.
"""
import datetime
import hashlib
import hmac
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError("%s is not set: run under tests/with-cluster.sh" % name)
    return value


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- PostgreSQL

def psql(url, sql, timeout=30):
    """Runs sql; returns the rows as lists of strings (fields split on a unit separator)."""
    out = subprocess.run(["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-F", "\x1f", "-c", sql],
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError("psql: %s" % out.stderr.strip())
    return [line.split("\x1f") for line in out.stdout.splitlines() if line]


def new_database(tag):
    """A fresh database on the test server; returns (name, store URL)."""
    name = "c%s_%s" % (tag, secrets.token_hex(4))
    base = env("COHORT_TEST_PG_URL")
    psql(base, "CREATE DATABASE " + name)
    return name, base.rsplit("/", 1)[0] + "/" + name


def pg_stop():
    subprocess.run([os.path.join(ROOT, "scripts", "pg-server.sh"), "stop", env("COHORT_TEST_PG_DIR")],
                   check=True, timeout=60, stdout=subprocess.DEVNULL)


def pg_start():
    subprocess.run([os.path.join(ROOT, "scripts", "pg-server.sh"), "start", env("COHORT_TEST_PG_DIR"),
                    env("COHORT_TEST_PG_PORT")], check=True, timeout=60, stdout=subprocess.DEVNULL)


# ---------------------------------------------------------------- S3 (SigV4, path-style)

def _enc(s, slash=True):
    return urllib.parse.quote(s, safe="-_.~" + ("" if slash else "/"))


def s3_request(method, path, query=None, body=b"", endpoint=None, secret=None, timeout=30):
    """One signed request to the S3 server: path is "/bucket[/key]", query a dict. Returns
    (status, body bytes)."""
    endpoint = endpoint or env("AWS_ENDPOINT_URL")
    secret = secret or env("AWS_SECRET_ACCESS_KEY")
    access, region = env("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_REGION", "us-east-1")
    u = urllib.parse.urlsplit(endpoint)
    host = u.netloc
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(body).hexdigest()
    canon_path = _enc(path, slash=False)
    canon_query = "&".join("%s=%s" % (_enc(k), _enc(v)) for k, v in sorted((query or {}).items()))
    headers = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canon = "\n".join([method, canon_path, canon_query,
                       "".join("%s:%s\n" % (k, headers[k]) for k in sorted(headers)), signed, payload])
    scope = "%s/%s/s3/aws4_request" % (day, region)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canon.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    hdrs = {"x-amz-content-sha256": payload, "x-amz-date": amz_date,
            "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                             % (access, scope, signed, sig)}
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, canon_path + ("?" + canon_query if canon_query else ""), body=body or None,
                     headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _xml_items(data, item, field):
    root = ET.fromstring(data)
    ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    vals = [e.findtext(ns + field) for e in root.iter(ns + item)]
    truncated = (root.findtext(ns + "IsTruncated") or "false").lower() == "true"
    return vals, truncated, root, ns


def s3_list(prefix, bucket=None):
    """{key: size} of every object under prefix ("" for the whole bucket), all pages."""
    bucket = bucket or env("COHORT_TEST_S3_BUCKET")
    out, marker = {}, ""
    for _ in range(1000):
        q = {"prefix": prefix, "max-keys": "1000"}
        if marker:
            q["marker"] = marker
        st, data = s3_request("GET", "/" + bucket, q)
        if st != 200:
            raise RuntimeError("S3 list %s: HTTP %d %s" % (prefix, st, data[:300]))
        root = ET.fromstring(data)
        ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        contents = list(root.iter(ns + "Contents"))
        for c in contents:
            out[c.findtext(ns + "Key")] = int(c.findtext(ns + "Size"))
        if (root.findtext(ns + "IsTruncated") or "false").lower() != "true" or not contents:
            return out
        marker = contents[-1].findtext(ns + "Key")
    raise RuntimeError("S3 list %s: more than 1000 pages" % prefix)


def s3_uploads(prefix, bucket=None):
    """Keys of the multipart uploads started and neither completed nor aborted under prefix."""
    bucket = bucket or env("COHORT_TEST_S3_BUCKET")
    st, data = s3_request("GET", "/" + bucket, {"uploads": "", "prefix": prefix})
    if st != 200:
        raise RuntimeError("S3 list uploads %s: HTTP %d %s" % (prefix, st, data[:300]))
    keys, _, _, _ = _xml_items(data, "Upload", "Key")
    return keys


def s3_get(key, bucket=None):
    bucket = bucket or env("COHORT_TEST_S3_BUCKET")
    return s3_request("GET", "/%s/%s" % (bucket, key))


# ---------------------------------------------------------------- the fault-injecting proxy

class FaultProxy:
    """tests/s3_fault_proxy.py in front of the S3 server, on a free port, stopped by PID."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.upstream = urllib.parse.urlsplit(env("AWS_ENDPOINT_URL")).port
        self.dir = tempfile.mkdtemp(prefix="cohort-proxy-")
        self.proc = None

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        pidfile = os.path.join(self.dir, "pid")
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "s3_fault_proxy.py"),
                                      str(self.port), str(self.upstream), pidfile],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("the fault proxy did not start on port %d" % self.port)
                time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def control(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise RuntimeError("proxy %s: %d %s" % (path, resp.status, body))
            return json.loads(body)
        finally:
            conn.close()

    def arm(self, mode, count=1, match=""):
        return self.control("/__fault__?" + urllib.parse.urlencode({"mode": mode, "count": count, "match": match}))

    def reset(self):
        return self.control("/__fault__/reset")

    def stats(self):
        return self.control("/__fault__/stats")


# ---------------------------------------------------------------- HTTP with a bound

def call(url, method, path, body=None, token=None, headers=None, timeout=30):
    """One request that never raises: (status, parsed JSON or bytes, headers, seconds). status 0
    means no answer (connection refused or reset, or no reply within timeout)."""
    u = urllib.parse.urlsplit(url)
    hdrs = dict(headers or {})
    data = None
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    elif body is not None:
        data = body
    if token:
        hdrs["Authorization"] = "Bearer " + token
    t0 = time.time()
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        rh = resp.headers
        if (rh.get("Content-Type") or "").startswith("application/json"):
            payload = json.loads(payload or b"null")
        return resp.status, payload, rh, time.time() - t0
    except (OSError, http.client.HTTPException) as e:
        return 0, str(e), {}, time.time() - t0
    finally:
        conn.close()
