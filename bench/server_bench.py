"""Benchmark of `cohort serve` over HTTP (part of `make bench`), in two configurations side by side
in one run: the embedded default (SQLite + a folder) and cluster mode (PostgreSQL 15 + an S3 server
that verifies signatures, Swift s3api, both started here on 127.0.0.1 by scripts/pg-server.sh and
scripts/s3-server.sh and stopped by PID at the end):
  - upload of adult_train (MB/s, POST /v1/datasets until its 201),
  - trainee create -> ready latency (POST /v1/trainees until its train job's "succeeded" event),
  - single-row predict latency p50/p99 under wrk at paced request rates, and the maximum rate,
    also as a share of the server's empty-reply ceiling (GET /healthz at the same concurrency, measured
    in the same rounds): what the request path costs beyond HTTP itself,
  - batched predict throughput (rows/s, 1,000 rows per request).
Both servers run at once and the measures alternate between them (for the wrk runs: A B, then
B A, averaged), so load from elsewhere on the machine falls on both alike.

    /usr/bin/python3 bench/server_bench.py <cohort-binary> <datasets-dir> [out.md]

COHORT_BENCH_SERVER_CONFIGS=embedded (or =cluster) runs one configuration only.

wrk (Debian's, closed loop) is paced with its Lua delay() hook: each connection waits a fixed time
between requests, so the achieved rate is reported beside the target. Server and wrk share this
machine's cores (2 here), so the figures are a floor for a server with the machine to itself.
"""
import http.client
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
from harness import CohortServer  # noqa: E402


def wrk_latency(text):
    """Parses wrk --latency output: (requests/s, {50: s, 90: s, 99: s})."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
    pct = {}
    for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M):
        pct[int(m.group(1))] = float(m.group(2)) * units[m.group(3)]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return rate, pct, int(errors.group(1)) if errors else 0


def sse_wait(url, path, token, started, timeout=600):
    """Seconds from started until the job's stream reports it finished, and the final job."""
    host, port = url[7:].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    conn.request("GET", path, headers={"Authorization": "Bearer " + token})
    resp = conn.getresponse()
    job = None
    for raw in resp:
        line = raw.decode().rstrip("\n")
        if line.startswith("data: "):
            job = json.loads(line[6:])
            if job["state"] in ("succeeded", "failed", "cancelled"):
                break
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, job


def create_ready(srv, token, ds_id, name):
    t0 = time.perf_counter()
    st, body, _ = srv.request("POST", "/v1/trainees", {"name": name, "dataset": ds_id}, token=token)
    assert st == 202, body
    elapsed, job = sse_wait(srv.url, "/v1/jobs/%s/events" % body["job"]["id"], token, t0)
    assert job["state"] == "succeeded", job
    return elapsed, body["trainee"]["id"]


def read_rows(path, n, drop):
    import csv
    with open(path, newline="") as f:
        rd = csv.DictReader(f)
        rows = []
        for r in rd:
            rows.append({k.strip(): (v.strip() if v.strip() != "" else None) for k, v in r.items() if k.strip() != drop})
            if len(rows) >= n:
                break
    return rows


def run_wrk(url, path, token, body, connections, seconds, delay_ms=None):
    """POST body with the token; body None: a plain GET (the empty-reply ceiling)."""
    lua = ('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n'
           'wrk.headers["Authorization"] = "Bearer %s"\n') % (json.dumps(json.dumps(body)), token) \
        if body is not None else ""
    if delay_ms is not None:
        lua += "function delay()\n  return %d\nend\n" % delay_ms
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
        script = f.name
    try:
        out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", "%ds" % seconds, "--latency",
                              "-s", script, url + path], capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(script)
    if out.returncode != 0 or "Requests/sec" not in out.stdout:
        raise RuntimeError("wrk failed: " + out.stderr + out.stdout)
    return wrk_latency(out.stdout)


def batched(srv, token, tr, rows, target, seconds=8, clients=2):
    body = json.dumps({"targets": [target], "rows": rows}).encode()
    host, port = srv.url[7:].rsplit(":", 1)
    done = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client():
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        while time.perf_counter() < stop:
            conn.request("POST", "/v1/trainees/%s/predict" % tr, body=body,
                         headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            assert resp.status == 200, data[:300]
            with lock:
                done[0] += len(rows)
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.perf_counter() - t0)


class Cluster:
    """PostgreSQL + the S3 server for one cohort serve, under a temporary folder, stopped by PID."""

    BUCKET = "cohort-bench"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cohort-bench-cluster-")
        os.chmod(self.dir, 0o755)  # PostgreSQL runs as the postgres user when we are root

    @staticmethod
    def free_ports(n):
        for _ in range(200):
            base = random.randint(20000, 60000 - n)
            socks = []
            try:
                for p in range(base, base + n):
                    s = socket.socket()
                    socks.append(s)
                    s.bind(("127.0.0.1", p))
                return base
            except OSError:
                pass
            finally:
                for s in socks:
                    s.close()
        raise RuntimeError("no free ports")

    def start(self):
        script = lambda name: os.path.join(ROOT, "scripts", name)  # noqa: E731
        out = subprocess.run(["bash", script("pg-server.sh"), "start", os.path.join(self.dir, "pg"),
                              str(self.free_ports(1))], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError("pg-server.sh: " + out.stderr)
        # The password goes through the environment (PGPASSWORD), not the command line.
        self.store = out.stdout.strip().replace("//cohort:cohort@", "//cohort@")
        for attempt in range(5):
            self.s3_port = self.free_ports(5)
            out = subprocess.run(["bash", script("s3-server.sh"), "start", os.path.join(self.dir, "s3"),
                                  str(self.s3_port), self.BUCKET], capture_output=True, text=True, timeout=180)
            if out.returncode == 0:
                break
        else:
            raise RuntimeError("s3-server.sh: " + out.stderr)
        env = dict(line.split("=", 1) for line in open(os.path.join(self.dir, "s3", "env")).read().split())
        secret = os.path.join(self.dir, "s3-secret")
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, env["AWS_SECRET_ACCESS_KEY"].encode())
        os.close(fd)
        return ["--store", self.store,
                "--blobs", "s3://%s/bench?endpoint=http://127.0.0.1:%d&region=us-east-1&addressing=path"
                % (self.BUCKET, self.s3_port),
                "--s3_access_key_id", env["AWS_ACCESS_KEY_ID"], "--s3_secret_access_key_file", secret,
                "--instance", "bench-1"]

    def stop(self):
        for name, sub in (("s3-server.sh", "s3"), ("pg-server.sh", "pg")):
            subprocess.run(["bash", os.path.join(ROOT, "scripts", name), "stop", os.path.join(self.dir, sub)],
                           capture_output=True, timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)


def upload(srv, token, name, data):
    t0 = time.perf_counter()
    st, ds, _ = srv.request("POST", "/v1/datasets?name=" + name, data, token=token)
    elapsed = time.perf_counter() - t0
    assert st == 201, ds
    return elapsed, ds


def prepare(srv, token, adult, penguins, res):
    """Uploads, an analyzed adult trainee; returns the predict path."""
    with open(adult, "rb") as f:
        data = f.read()
    res["upload_mb"] = len(data) / 1e6
    _, ds = upload(srv, token, "adult", data)
    res["rows_adult"] = ds["rows"]
    res["ds_adult"] = ds["id"]
    with open(penguins, "rb") as f:
        _, ds = upload(srv, token, "penguins", f.read())
    res["rows_penguins"] = ds["rows"]
    res["ds_penguins"] = ds["id"]
    _, tr = create_ready(srv, token, res["ds_adult"], "adult-bench")
    t0 = time.perf_counter()
    st, body, _ = srv.request("POST", "/v1/trainees/%s/analyze" % tr, {"targets": ["income"]}, token=token)
    assert st == 202, body
    _, job = sse_wait(srv.url, "/v1/jobs/%s/events" % body["job"]["id"], token, t0)
    assert job["state"] == "succeeded", job
    res["tr"] = tr
    return "/v1/trainees/%s/predict" % tr


def main():
    binary, data = sys.argv[1], sys.argv[2]
    out_md = sys.argv[3] if len(sys.argv) > 3 else None
    adult = os.path.join(data, "adult_train.csv")
    penguins = os.path.join(ROOT, "tests", "data", "penguins.csv")
    names = os.environ.get("COHORT_BENCH_SERVER_CONFIGS", "embedded cluster").split()
    labels = {"embedded": "embedded (SQLite + folder)", "cluster": "PostgreSQL + S3"}
    cluster = None
    servers = {}
    res = {n: {} for n in names}
    t_start = time.time()
    load_start = open("/proc/loadavg").read().split()[0]
    try:
        for n in names:
            extra = ["--log_level", "warn"]
            if n == "cluster":
                cluster = Cluster()
                extra += cluster.start()
            env = {"PGPASSWORD": "cohort"} if n == "cluster" else {}  # pg-server.sh's test role
            servers[n] = CohortServer(binary, extra_args=extra, env=env).start()
        tokens = {n: servers[n].token() for n in names}
        paths = {n: prepare(servers[n], tokens[n], adult, penguins, res[n]) for n in names}
        with open(adult, "rb") as f:
            adult_bytes = f.read()
        # Measures alternate between the servers so that outside load falls on both alike.
        for n in names:
            res[n]["upload_s"] = []
            res[n]["create_ready_penguins"] = []
            res[n]["create_ready_adult"] = []
        for i in range(3):
            for n in names:
                res[n]["upload_s"].append(upload(servers[n], tokens[n], "adult-up-%d" % i, adult_bytes)[0])
        for kind, count in (("penguins", 5), ("adult", 3)):
            for i in range(count):
                for n in names:
                    t, _ = create_ready(servers[n], tokens[n], res[n]["ds_" + kind], "%s-%d" % (kind, i))
                    res[n]["create_ready_" + kind].append(t)
        rows = read_rows(os.path.join(data, "adult_test.csv"), 1000, "income")
        one = {"targets": ["income"], "rows": [rows[0]]}
        for n in names:
            st, warm, _ = servers[n].request("POST", paths[n], one, token=tokens[n])
            assert st == 200, warm
            res[n]["paced"] = {}
            res[n]["max"] = []
            res[n]["ceiling"] = []
        # rate/50 connections each waiting 19 ms (+ the reply) between requests: a little above the
        # target rate while replies stay under 1 ms. Two rounds, the order reversed in the second.
        for rnd in range(2):
            order = names if rnd == 0 else list(reversed(names))
            for rate in (500, 1000, 2000):
                for n in order:
                    r = run_wrk(servers[n].url, paths[n], tokens[n], one, rate // 50, 10, 19)
                    res[n]["paced"].setdefault(rate, []).append(r)
            for n in order:
                res[n]["max"].append(run_wrk(servers[n].url, paths[n], tokens[n], one, 32, 10))
                res[n]["ceiling"].append(run_wrk(servers[n].url, "/healthz", None, None, 32, 10))
        for n in names:
            res[n]["batched_rows_per_s"] = batched(servers[n], tokens[n], res[n]["tr"], rows, "income")
    finally:
        for srv in servers.values():
            srv.cleanup()
        if cluster:
            cluster.stop()
    load = (load_start, open("/proc/loadavg").read().split()[0])
    text = render(names, labels, res, time.time() - t_start, load)
    print(text)
    if out_md:
        with open(out_md, "w") as f:
            f.write(text)


def mean(xs):
    return sum(xs) / len(xs) if xs else None


def render(names, labels, res, seconds, load):
    """The Markdown table: one column per configuration, then cluster/embedded."""
    ms = lambda s: "%.2f ms" % (s * 1e3) if s is not None else "n/a"  # noqa: E731
    both = len(names) == 2

    def wrk_mean(runs):
        return (mean([r[0] for r in runs]), mean([r[1].get(50) for r in runs if r[1].get(50) is not None]),
                mean([r[1].get(99) for r in runs if r[1].get(99) is not None]), sum(r[2] for r in runs))

    rows = []  # (measure, [value text per config], ratio text, goal)

    def add(measure, values, fmt, goal=""):
        ratio = ""
        if both and values[0] and values[1] is not None:
            ratio = "%.2f" % (values[1] / values[0])
        rows.append((measure, [fmt(v) for v in values], ratio, goal))

    r0 = res[names[0]]
    add("upload adult_train (%.1f MB), median of 3" % r0["upload_mb"],
        [r["upload_mb"] / statistics.median(r["upload_s"]) for r in (res[n] for n in names)],
        lambda v: "%.1f MB/s" % v)
    add("trainee create -> ready, penguins (%d rows), median of 5" % r0["rows_penguins"],
        [statistics.median(res[n]["create_ready_penguins"]) for n in names], ms, "<= 100 ms (cluster)")
    add("trainee create -> ready, adult (%d rows), median of 3" % r0["rows_adult"],
        [statistics.median(res[n]["create_ready_adult"]) for n in names], ms)
    errors = 0
    for rate in (500, 1000, 2000):
        w = [wrk_mean(res[n]["paced"][rate]) for n in names]
        errors += sum(x[3] for x in w)
        achieved = "/".join("%.0f" % x[0] for x in w)
        goal = "p99 <= 5 ms; cluster within 10%" if rate == 1000 else ""
        add("predict p50, paced to %d req/s (achieved %s)" % (rate, achieved), [x[1] for x in w], ms, goal)
        add("predict p99, paced to %d req/s" % rate, [x[2] for x in w], ms, goal)
    w = [wrk_mean(res[n]["max"]) for n in names]
    errors += sum(x[3] for x in w)
    add("predict, maximum rate (32 connections)", [x[0] for x in w], lambda v: "%.0f req/s" % v)
    add("predict p99 at the maximum rate", [x[2] for x in w], ms)
    c = [wrk_mean(res[n]["ceiling"]) for n in names]
    errors += sum(x[3] for x in c)
    add("empty-reply ceiling: GET /healthz, maximum rate (32 connections)", [x[0] for x in c],
        lambda v: "%.0f req/s" % v)
    add("predict maximum rate / empty-reply ceiling", [w[i][0] / c[i][0] for i in range(len(names))],
        lambda v: "%.1f%%" % (v * 100), ">= 30%")
    add("batched predict, 1,000 rows per request, 2 clients", [res[n]["batched_rows_per_s"] for n in names],
        lambda v: "%.0f rows/s" % v, ">= 10,000 rows/s")
    head = "| measure | " + " | ".join(labels[n] for n in names) + (" | cluster / embedded" if both else "") + \
        " | goal |"
    lines = [
        "## Server (`cohort serve`, bench/server_bench.py)",
        "",
        "Embedded default and cluster mode side by side in one run (%.0f s), both servers up at once and the "
        "measures alternating between them. Cluster mode: PostgreSQL 15 (`scripts/pg-server.sh`, fsync off) "
        "and Swift s3api (`scripts/s3-server.sh`, signatures checked), all on 127.0.0.1. wrk and the servers "
        "share the machine's %d cores; single-row predict of `income` on the adult trainee (32,561 cases, "
        "analyzed), one row from adult_test per request, as the bench's admin token; wrk figures are the mean "
        "of two 10 s runs per configuration (orders A B, then B A), the empty-reply ceiling right after each "
        "maximum-rate predict run. Load average (1 min) at the start and end: %s, %s."
        % (seconds, os.cpu_count(), load[0], load[1]),
        "",
        head,
        "|---" * (3 + len(names) + (1 if both else 0) - 1) + "|",
    ]
    for measure, vals, ratio, goal in rows:
        lines.append("| %s | %s%s | %s |" % (measure, " | ".join(vals), (" | " + ratio) if both else "", goal))
    lines.append("")
    lines.append("Non-2xx replies during the wrk runs: %d." % errors)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
