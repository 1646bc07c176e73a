"""Benchmark of the cluster roles (part of `make bench`): `cohort api` + `cohort worker` over NATS and
Redis, side by side in one run with `cohort serve` on the same PostgreSQL + S3 (so the difference
is the API -> NATS -> worker hop, not the state):
  - single-row predict p50/p99 under wrk paced to 500 req/s: in process (serve) vs through the hop,
    and the floor under the hop: one NATS request/reply with libnats alone (bench_nats_rtt),
  - predict's maximum rate (32 connections), and batched predict's rows/s, with 1 and then 2
    workers, the trainee being hot (a saturated host asks a second worker to host it too),
  - trainee create -> ready (penguins): the train job runs on a worker,
  - recovery: kill -9 of the worker hosting the trainee under steady calls, until calls succeed.
PostgreSQL, the S3 server (bench/server_bench.py's Cluster), nats-server and redis-server are
started on 127.0.0.1 by the project's scripts and stopped by PID at the end.

    /usr/bin/python3 bench/roles_bench.py <cohort-binary> [out.md]
"""
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from server_bench import Cluster, batched, create_ready, run_wrk  # noqa: E402
from harness import CohortServer  # noqa: E402

PENGUINS = os.path.join(ROOT, "tests", "data", "penguins.csv")
ROW = {"island": "Biscoe", "flipper_length_mm": 220, "bill_length_mm": 47.5}
BATCH = 200  # rows per call where the worker's compute, not the hop, is what limits


def service(name, action, folder, port=None):
    args = ["bash", os.path.join(ROOT, "scripts", name + "-server.sh"), action, folder]
    subprocess.run(args + ([str(port)] if port else []), check=True, capture_output=True, timeout=60)


def recovery(api, token, path, worker):
    """Steady calls from 4 clients; kill -9 worker. Returns seconds until a call succeeds again
    (served by the worker that took the trainee over), the failed calls (those in flight on the
    killed worker wait bus_timeout_ms for a reply that never comes) and the calls after the kill."""
    body = json.dumps({"targets": ["species"], "rows": [ROW]}).encode()
    results, stop = [], threading.Event()

    def load():
        while not stop.is_set():
            req = urllib.request.Request(api.url + path, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": "Bearer " + token})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    results.append((time.time(), r.status))
            except urllib.error.HTTPError as e:
                results.append((time.time(), e.code))
            except OSError:
                results.append((time.time(), 0))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1)
    killed = time.time()
    worker.kill()
    time.sleep(4)
    stop.set()
    for t in threads:
        t.join(60)
    after = [(t, s) for t, s in results if t >= killed]
    ok = [t for t, s in after if s == 200]
    back = min(ok) - killed if ok else float("inf")
    return back, len([1 for _, s in after if s != 200]), len(after)


def worker_calls(worker):
    """(seconds, calls) the worker spent answering trainee calls, from its /metrics histogram."""
    text = worker.request("GET", "/metrics")[1].decode()
    got = {}
    for line in text.splitlines():
        for k in ("cohort_trainee_call_duration_seconds_sum", "cohort_trainee_call_duration_seconds_count"):
            if line.startswith(k + " "):
                got[k] = float(line.split()[1])
    return got.get("cohort_trainee_call_duration_seconds_sum", 0.0), got.get("cohort_trainee_call_duration_seconds_count", 0)


def main():
    binary = sys.argv[1]
    out_md = sys.argv[2] if len(sys.argv) > 2 else None
    cluster = Cluster()
    servers, res = [], {}
    tmp = cluster.dir
    t_start = time.time()
    load_start = open("/proc/loadavg").read().split()[0]
    try:
        common = cluster.start()[:-2]  # without --instance: each process names its own
        nats_port, redis_port = Cluster.free_ports(1), Cluster.free_ports(1)
        service("nats", "start", tmp + "/nats", nats_port)
        service("redis", "start", tmp + "/redis", redis_port)
        bus = ["--bus", "nats://127.0.0.1:%d" % nats_port, "--bus_redis", "redis://127.0.0.1:%d" % redis_port]
        env = {"PGPASSWORD": "cohort"}

        def start(verb, name, extra=()):
            srv = CohortServer(binary, extra_args=["--log_level", "warn", "--instance", name] + common + list(extra),
                               env=env, verb=verb).start()
            servers.append(srv)
            return srv

        serve = start("serve", "bench-serve")
        w1 = start("worker", "bench-w1", bus)
        api = start("api", "bench-api", bus)
        tok = api.token()
        with open(PENGUINS, "rb") as f:
            data = f.read()
        ready = {"serve": [], "roles": []}
        for who, srv in (("serve", serve), ("roles", api)):
            st, ds, _ = srv.request("POST", "/v1/datasets?name=penguins-" + who, data, token=tok)
            assert st == 201, ds
            ready[who + "_ds"] = ds["id"]
        for i in range(5):  # alternating, so outside load falls on both alike
            for who, srv in (("serve", serve), ("roles", api)):
                t, tr = create_ready(srv, tok, ready[who + "_ds"], "p-%s-%d" % (who, i))
                ready[who].append(t)
                ready[who + "_tr"] = tr
        res["create_ready"] = {w: statistics.median(ready[w]) for w in ("serve", "roles")}
        paths = {w: "/v1/trainees/%s/predict" % ready[w + "_tr"] for w in ("serve", "roles")}
        one = {"targets": ["species"], "rows": [ROW]}
        for who, srv in (("serve", serve), ("roles", api)):
            st, body, _ = srv.request("POST", paths[who], one, token=tok)
            assert st == 200, body
        paced = {"serve": [], "roles": []}
        before = worker_calls(w1)
        for rnd in range(2):
            for who, srv in ((("serve", serve), ("roles", api)) if rnd == 0 else (("roles", api), ("serve", serve))):
                paced[who].append(run_wrk(srv.url, paths[who], tok, one, 10, 10, 19))
        after = worker_calls(w1)
        res["paced"] = paced
        res["worker_mean"] = (after[0] - before[0]) / max(1, after[1] - before[1])
        rtt = os.path.join(os.path.dirname(os.path.abspath(binary)), "bench", "bench_nats_rtt")
        out = subprocess.run([rtt, "nats://127.0.0.1:%d" % nats_port, "5000"], capture_output=True, text=True,
                             timeout=120, check=True)
        res["nats_rtt"] = [float(x) / 1e3 for x in out.stdout.split()]
        res["max1"] = run_wrk(api.url, paths["roles"], tok, one, 32, 10)
        res["max_serve"] = run_wrk(serve.url, paths["serve"], tok, one, 32, 10)
        block = [dict(ROW, bill_length_mm=30 + i % 30) for i in range(BATCH)]
        res["batch1"] = batched(api, tok, ready["roles_tr"], block, "species", 10, 6)
        w2 = start("worker", "bench-w2", bus)
        res["max2"] = run_wrk(api.url, paths["roles"], tok, one, 32, 10)
        batched(api, tok, ready["roles_tr"], block, "species", 5, 6)  # time for the hot host to ask for a peer
        res["batch2"] = batched(api, tok, ready["roles_tr"], block, "species", 10, 6)
        hosts = [w for w in (w1, w2) if any("cohort_trainees_serving 1" in line for line in
                                            w.request("GET", "/metrics")[1].decode().splitlines())]
        res["hosts"] = len(hosts)
        res["recovery"] = recovery(api, tok, paths["roles"], hosts[0] if hosts else w1)
    finally:
        for srv in servers:
            srv.cleanup()
        for name in ("redis", "nats"):
            subprocess.run(["bash", os.path.join(ROOT, "scripts", name + "-server.sh"), "stop", tmp + "/" + name],
                           capture_output=True, timeout=60)
        cluster.stop()
    load = (load_start, open("/proc/loadavg").read().split()[0])
    text = render(res, time.time() - t_start, load)
    print(text)
    if out_md:
        with open(out_md, "w") as f:
            f.write(text)


def render(res, seconds, load):
    ms = lambda s: "%.2f ms" % (s * 1e3)  # noqa: E731

    def pct(runs, p):
        return statistics.mean(r[1][p] for r in runs)

    rows = []
    s50, r50 = pct(res["paced"]["serve"], 50), pct(res["paced"]["roles"], 50)
    s99, r99 = pct(res["paced"]["serve"], 99), pct(res["paced"]["roles"], 99)
    achieved = "/".join("%.0f" % statistics.mean(r[0] for r in res["paced"][w]) for w in ("serve", "roles"))
    rows.append(("predict p50, paced to 500 req/s (achieved %s)" % achieved, ms(s50), ms(r50),
                 "+%.2f ms" % ((r50 - s50) * 1e3), "hop <= +0.5 ms"))
    rows.append(("predict p99, paced to 500 req/s", ms(s99), ms(r99), "+%.2f ms" % ((r99 - s99) * 1e3), ""))
    rows.append(("of the hop: one NATS request/reply alone (libnats, bench_nats_rtt), p50 / p99", "",
                 "%s / %s" % (ms(res["nats_rtt"][0]), ms(res["nats_rtt"][1])), "", ""))
    rows.append(("of the hop: the worker's time per call, arrival to reply (mean, its /metrics)", "",
                 ms(res["worker_mean"]), "", ""))
    rows.append(("predict, maximum rate (32 connections), 1 worker", "%.0f req/s" % res["max_serve"][0],
                 "%.0f req/s" % res["max1"][0], "%.2f" % (res["max1"][0] / res["max_serve"][0]), ""))
    rows.append(("the same with 2 workers", "",
                 "%.0f req/s" % res["max2"][0], "%.2f of 1 worker" % (res["max2"][0] / res["max1"][0]), ""))
    rows.append(("batched predict (%d rows a call, 6 clients), 1 worker" % BATCH, "",
                 "%.0f rows/s" % res["batch1"], "", ""))
    rows.append(("the same with 2 workers (trainee hosted by %d at the end)" % res["hosts"], "",
                 "%.0f rows/s" % res["batch2"], "%.2f of 1 worker" % (res["batch2"] / res["batch1"]), ""))
    cr = res["create_ready"]
    rows.append(("trainee create -> ready, penguins, median of 5", ms(cr["serve"]), ms(cr["roles"]),
                 "%.2f" % (cr["roles"] / cr["serve"]), "<= 100 ms"))
    back, failed, total = res["recovery"]
    rows.append(("kill -9 of the hosting worker under 4 clients: calls succeed again after", "",
                 "%.2f s (%d of %d calls failed: in flight on it)" % (back, failed, total), "", "<= 2 s"))
    lines = [
        "## Cluster roles (`cohort api` + `cohort worker`, bench/roles_bench.py)",
        "",
        "`cohort serve` and `cohort api` + `cohort worker` on the same PostgreSQL 15 and S3 server, with "
        "nats-server (JetStream) and redis-server, all on 127.0.0.1 in one run (%.0f s); single-row predict of "
        "`species` on a penguins trainee; wrk figures are the mean of two 10 s runs (orders A B, then B A). "
        "wrk and every process share the machine's %d cores. Load average (1 min) at the start and end: %s, %s."
        % (seconds, os.cpu_count(), load[0], load[1]),
        "",
        "| measure | serve (in process) | api -> NATS -> worker | difference | goal |",
        "|---|---|---|---|---|",
    ]
    lines += ["| %s |" % " | ".join(r) for r in rows]
    errors = sum(r[2] for w in ("serve", "roles") for r in res["paced"][w]) + res["max1"][2] + res["max2"][2]
    lines += ["", "Non-2xx replies during the wrk runs: %d." % errors]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
