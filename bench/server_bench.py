"""Benchmark of `cohort serve` over HTTP (part of `make bench`):
  - trainee create -> ready latency (POST /v1/trainees until its train job's "succeeded" event),
  - single-row predict latency p50/p99 under wrk at paced request rates, and the maximum rate,
  - batched predict throughput (rows/s, 1,000 rows per request).

    /usr/bin/python3 bench/server_bench.py <cohort-binary> <datasets-dir> [out.md]

wrk (Debian's, closed loop) is paced with its Lua delay() hook: each connection waits a fixed time
between requests, so the achieved rate is reported beside the target. Server and wrk share this
machine's cores (2 here), so the figures are a floor for a server with the machine to itself.
"""
import http.client
import json
import os
import re
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
    lua = ('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n'
           'wrk.headers["Authorization"] = "Bearer %s"\n') % (json.dumps(json.dumps(body)), token)
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


def main():
    binary, data = sys.argv[1], sys.argv[2]
    out_md = sys.argv[3] if len(sys.argv) > 3 else None
    adult = os.path.join(data, "adult_train.csv")
    penguins = os.path.join(ROOT, "tests", "data", "penguins.csv")
    res = {}
    with CohortServer(binary, extra_args=["--log_level", "warn"]) as srv:
        token = srv.token()
        uploads = {}
        for name, path in (("penguins", penguins), ("adult", adult)):
            with open(path, "rb") as f:
                st, ds, _ = srv.request("POST", "/v1/datasets?name=" + name, f.read(), token=token)
            assert st == 201, ds
            uploads[name] = ds
        for name in ("penguins", "adult"):
            times = []
            for i in range(5 if name == "penguins" else 3):
                t, tr = create_ready(srv, token, uploads[name]["id"], "%s-%d" % (name, i))
                times.append(t)
            res["create_ready_" + name] = statistics.median(times)
            res["rows_" + name] = uploads[name]["rows"]
        # The predict benchmarks use adult, analyzed for income as a user would.
        t0 = time.perf_counter()
        st, body, _ = srv.request("POST", "/v1/trainees/%s/analyze" % tr, {"targets": ["income"]}, token=token)
        _, job = sse_wait(srv.url, "/v1/jobs/%s/events" % body["job"]["id"], token, t0)
        assert job["state"] == "succeeded", job
        rows = read_rows(os.path.join(data, "adult_test.csv"), 1000, "income")
        one = {"targets": ["income"], "rows": [rows[0]]}
        path = "/v1/trainees/%s/predict" % tr
        st, warm, _ = srv.request("POST", path, one, token=token)
        assert st == 200, warm
        res["paced"] = []
        for rate in (500, 1000, 2000):
            # rate/50 connections each waiting 19 ms (+ the reply) between requests: a little
            # above the target rate while replies stay under 1 ms.
            conns, delay = rate // 50, 19
            achieved, pct, errors = run_wrk(srv.url, path, token, one, conns, 10, delay)
            res["paced"].append({"target": rate, "rate": achieved, "p50": pct.get(50), "p99": pct.get(99),
                                 "errors": errors})
        achieved, pct, errors = run_wrk(srv.url, path, token, one, 32, 10)
        res["max"] = {"rate": achieved, "p50": pct.get(50), "p99": pct.get(99), "errors": errors}
        res["batched_rows_per_s"] = batched(srv, token, tr, rows, "income")
    ms = lambda s: "%.2f ms" % (s * 1e3) if s is not None else "n/a"  # noqa: E731
    lines = [
        "## Server (`cohort serve`, bench/server_bench.py)",
        "",
        "wrk and the server share the machine's %d cores; single-row predict of `income` on the adult "
        "trainee (32,561 cases, analyzed), one row from adult_test per request." % os.cpu_count(),
        "",
        "| measure | result | goal |",
        "|---|---|---|",
        "| trainee create -> ready, penguins (%d rows), median of 5 | %s | <= 50 ms |" % (
            res["rows_penguins"], ms(res["create_ready_penguins"])),
        "| trainee create -> ready, adult (%d rows), median of 3 | %s | |" % (
            res["rows_adult"], ms(res["create_ready_adult"])),
    ]
    for p in res["paced"]:
        lines.append("| predict, paced to %d req/s (achieved %.0f): p50 / p99 | %s / %s | p99 <= 5 ms at 1,000 req/s |"
                     % (p["target"], p["rate"], ms(p["p50"]), ms(p["p99"])))
    m = res["max"]
    lines.append("| predict, maximum rate (32 connections) | %.0f req/s (p50 %s, p99 %s) | |" % (
        m["rate"], ms(m["p50"]), ms(m["p99"])))
    lines.append("| batched predict, 1,000 rows per request, 2 clients | %.0f rows/s | >= 10,000 rows/s |" % (
        res["batched_rows_per_s"]))
    errors = sum(p["errors"] for p in res["paced"]) + m["errors"]
    lines.append("")
    lines.append("Non-2xx replies during the wrk runs: %d." % errors)
    text = "\n".join(lines) + "\n"
    print(text)
    print(json.dumps(res, indent=1), file=sys.stderr)
    if out_md:
        with open(out_md, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
