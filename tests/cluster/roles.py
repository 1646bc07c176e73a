#!/usr/bin/env python3
"""`cohort serve` played by a cluster of processes, for running the suites written for one server
against the cluster roles: tests/cluster/cohort-on-cluster.sh execs this for `serve` when
COHORT_TEST_ROLES=1.

    roles.py COHORT_BIN serve [--listen ADDR] [--data_dir DIR] [--instance NAME] [settings...]

starts, all on 127.0.0.1, a nats-server with JetStream and a redis-server (state under DIR), two
`cohort api` replicas and three `cohort worker` processes with the given settings plus the bus, and
HAProxy in front of the API replicas (COHORT_TEST_ROLES_WORKERS changes the number of workers) (scripts/haproxy.sh) on ADDR's port. Each process's log lines
come out on our stderr; the replicas' own "listening" lines are replaced by one for the balancer,
which is what the test harness waits for. SIGTERM stops the cohort processes with SIGTERM (as a
Kubernetes rollout does), then the balancer and the bus; the exit status is 0 only if every cohort
process exited 0. Every child runs under `setpriv --pdeathsig KILL`, so a SIGKILL of this process
takes the whole cluster down at once, as a kill -9 of one server would. Instance names derive from
NAME, so a restart on the same DIR re-queues the jobs its processes held (and JetStream keeps its
stream on disk in DIR)."""
import fcntl
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APIS, WORKERS = 2, int(os.environ.get("COHORT_TEST_ROLES_WORKERS", "3"))
out_lock = threading.Lock()


def say(msg, **kw):
    with out_lock:
        sys.stderr.write(json.dumps(dict(level="info", msg=msg, src="roles.py", **kw)) + "\n")
        sys.stderr.flush()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def take(args, name, default):
    """Removes --name VALUE / --name=VALUE from args; returns VALUE."""
    value = default
    rest, i = [], 0
    while i < len(args):
        a = args[i]
        if a == "--" + name and i + 1 < len(args):
            value, i = args[i + 1], i + 2
            continue
        if a.startswith("--%s=" % name):
            value = a.split("=", 1)[1]
        else:
            rest.append(a)
        i += 1
    args[:] = rest
    return value


def wait_until(what, check, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("%s not ready after %d s" % (what, timeout))


def port_open(port):
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def redis_pong(port):
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")


def http_ok(url):
    """Whether url answers 200; False on no answer or one that is not HTTP (another server that took
    the port: a nats-server greets with INFO)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except (OSError, http.client.HTTPException):
        return False


class Cluster:
    def __init__(self, binary, args):
        self.binary = binary
        listen = take(args, "listen", "127.0.0.1:8080")
        self.dir = os.path.abspath(take(args, "data_dir", "cohort-data"))
        self.instance = take(args, "instance", "cohort")
        self.settings = args
        port = int(listen.rsplit(":", 1)[1])
        self.lb_fixed = port != 0  # else the balancer's port is ours to choose (start_balancer)
        self.lb_port = port or free_port()
        self.services = []  # (name, Popen) of nats, redis, haproxy
        self.cohorts = []  # (name, Popen, ready Event, [port])
        self.pumps = []

    def spawn(self, argv, **kw):
        return subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--"] + argv, stdin=subprocess.DEVNULL, **kw)

    def start_services(self):
        os.makedirs(self.dir, exist_ok=True)
        nats_dir, redis_dir = os.path.join(self.dir, "nats"), os.path.join(self.dir, "redis")
        os.makedirs(nats_dir, exist_ok=True)
        os.makedirs(redis_dir, exist_ok=True)
        self.nats_port = self.start_service("nats-server", lambda port: [
            "nats-server", "-js", "-sd", nats_dir + "/js", "-a", "127.0.0.1", "-p", str(port), "-l",
            nats_dir + "/nats.log"], port_open, nats_dir + "/nats.log")
        self.redis_port = self.start_service("redis-server", lambda port: [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", redis_dir, "--logfile", redis_dir + "/redis.log"], redis_pong, redis_dir + "/redis.log")

    def start_service(self, name, argv, ready, logfile, tries=3):
        """Starts name on a free port; returns the port. Another process may take the port between
        free_port and the server's bind (or a server just stopped may still hold its files): a server
        that exits at once is started again on another port, and its log's last lines are logged."""
        for attempt in range(1, tries + 1):
            port = free_port()
            proc = self.spawn(argv(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_until(name, lambda: ready(port), proc)
                self.services.append((name, proc))
                return port
            except RuntimeError as e:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                try:
                    with open(logfile, errors="replace") as f:
                        tail = f.read()[-600:]
                except OSError:
                    tail = ""
                say("service did not start", name=name, attempt=attempt, error=str(e), log=tail)
                if attempt == tries:
                    raise
                time.sleep(0.5)

    def start_cohort(self, verb, i):
        name = "%s-%d" % (verb, i)
        argv = [self.binary, verb, "--listen", "127.0.0.1:0", "--data_dir", os.path.join(self.dir, name),
                "--instance", "%s-%s" % (self.instance, name)] + (
                ["--trusted_proxies", "127.0.0.1"] if verb == "api" else []) + self.settings + [
                "--bus", "nats://127.0.0.1:%d" % self.nats_port,
                "--bus_redis", "redis://127.0.0.1:%d" % self.redis_port]
        proc = self.spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ready, port = threading.Event(), []

        def pump():
            for line in proc.stderr:
                try:
                    rec = json.loads(line)
                except ValueError:
                    rec = None
                if isinstance(rec, dict) and rec.get("msg") == "listening" and not port:
                    port.append(int(rec["port"]))
                    ready.set()
                    continue
                with out_lock:
                    sys.stderr.write(line)
                    sys.stderr.flush()
            ready.set()

        t = threading.Thread(target=pump, daemon=True)
        t.start()
        self.pumps.append(t)
        self.cohorts.append((name, proc, ready, port))

    def start(self):
        self.start_services()
        for i in range(1, WORKERS + 1):
            self.start_cohort("worker", i)
        for i in range(1, APIS + 1):
            self.start_cohort("api", i)
        deadline = time.time() + 30
        for name, proc, ready, port in self.cohorts:
            if not ready.wait(max(0.1, deadline - time.time())) or not port:
                try:  # a bad setting: every process says so; keep the first one's exit status
                    self.early_exit = proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
                raise RuntimeError("cohort %s did not start (exit status %s)" % (name, proc.poll()))
        self.start_balancer(["127.0.0.1:%d" % c[3][0] for c in self.cohorts if c[0].startswith("api-")])
        # Ready when every worker says so itself, as every replica did through the balancer.
        for name, proc, _, port in self.cohorts:
            wait_until(name, lambda: http_ok("http://127.0.0.1:%d/readyz" % port[0]), proc)
        say("listening", port=self.lb_port, address="127.0.0.1", apis=APIS, workers=WORKERS)

    def start_balancer(self, apis, tries=3):
        """HAProxy in front of apis, ready when every replica is, seen through it. Another process
        may take a port we chose between free_port and HAProxy's bind (the cluster suites run side by
        side): a balancer that exits is started again on another port, as start_service does."""
        lb_dir = os.path.join(self.dir, "lb")
        for attempt in range(1, tries + 1):
            subprocess.run([os.path.join(ROOT, "scripts", "haproxy.sh"), "config", lb_dir, str(self.lb_port)] +
                           apis, check=True)
            with open(os.path.join(lb_dir, "haproxy.log"), "ab") as log:
                lb = self.spawn(["haproxy", "-db", "-f", os.path.join(lb_dir, "haproxy.cfg")], stdout=log,
                                stderr=log)
            try:
                wait_until("the balancer", lambda: http_ok("http://127.0.0.1:%d/readyz" % self.lb_port), lb)
                self.services.append(("haproxy", lb))
                return
            except RuntimeError as e:
                if lb.poll() is None:
                    lb.kill()
                    lb.wait()
                say("balancer did not start", port=self.lb_port, attempt=attempt, error=str(e))
                if self.lb_fixed or attempt == tries:
                    raise
                self.lb_port = free_port()

    def stop(self):
        """SIGTERM to every cohort process at once, then the services; True if all exited 0."""
        ok = True
        for _, proc, _, _ in self.cohorts:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc, _, _ in self.cohorts:
            try:
                rc = proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
            if rc != 0:
                say("cohort process exited", name=name, status=rc)
                ok = False
        for _, proc in reversed(self.services):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for t in self.pumps:  # the last words of each process reach our stderr
            t.join(5)
        return ok


def main():
    if len(sys.argv) < 3 or sys.argv[2] != "serve":
        sys.exit("usage: roles.py COHORT_BIN serve [settings...]")
    if {"--help", "-h", "--version"} & set(sys.argv[3:]):
        os.execv(sys.argv[1], sys.argv[1:])
    cluster = Cluster(sys.argv[1], sys.argv[3:])
    # The data folder is ours, as `cohort serve` holds its own (co_data_dir_lock): `cohort admin`
    # refuses to work on a folder a running server uses.
    os.makedirs(cluster.dir, exist_ok=True)
    lock = open(os.path.join(cluster.dir, "cohort.lock"), "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        sys.exit("cohort serve: data_dir %s is in use by another cohort process" % cluster.dir)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        cluster.start()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        say("cluster did not start", error=str(e))
        cluster.stop()
        sys.exit(getattr(cluster, "early_exit", None) or 1)
    while not stopping.wait(0.5):
        for name, proc, _, _ in cluster.cohorts:
            if proc.poll() is not None and not getattr(proc, "reported", False):
                proc.reported = True
                say("cohort process died", name=name, status=proc.returncode)
    sys.exit(0 if cluster.stop() else 1)


if __name__ == "__main__":
    main()
