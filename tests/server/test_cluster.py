"""Cluster tests: several `cohort serve` processes on one PostgreSQL database and one S3 prefix, and
what happens when PostgreSQL or S3 fail, and bad cluster settings at start-up. They need the real
servers tests/with-cluster.sh starts (and skip without them, since this folder also runs on the
embedded default):

    COHORT_BIN=build/cohort tests/with-cluster.sh python3 -m unittest discover -s tests/server \\
        -p 'test_cluster.py' -v

Every server here runs the real binary (COHORT_REAL_BIN) with an explicit --store and --blobs: a
fresh database made with psql and a fresh key prefix in the test bucket.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import ADMIN_PASSWORD, CohortServer  # noqa: E402
import cluster_util as cu  # noqa: E402

# Under COHORT_TEST_ROLES every server the other suites start is a whole cluster; these tests lay
# out their own processes and ran already in server_cluster.
CLUSTER = bool(os.environ.get("COHORT_TEST_CLUSTER")) and not os.environ.get("COHORT_TEST_ROLES")
REAL_BIN = os.path.abspath(os.environ.get("COHORT_REAL_BIN", os.path.join(ROOT, "build", "cohort")))
PENGUINS = os.path.join(ROOT, "tests", "data", "penguins.csv")
SKIP_WHY = "needs a real PostgreSQL and S3 server: run under tests/with-cluster.sh (COHORT_TEST_CLUSTER)"
LEASE_S = 3
PREVIOUS = "_previous_blob"  # CO_INFO_PREVIOUS_BLOB: the version before the committed one


def read(path):
    with open(path, "rb") as f:
        return f.read()


def abalone():
    """tests/data's abalone table (4177 rows): big enough that synthesizing 20000 rows takes seconds."""
    import tarfile
    with tarfile.open(os.path.join(ROOT, "tests", "data", "datasets.tar.gz")) as t:
        return t.extractfile("abalone.csv").read()


def cluster_args(store, prefix, instance, extra=()):
    return ["--store", store, "--blobs", "s3://%s/%s" % (cu.env("COHORT_TEST_S3_BUCKET"), prefix),
            "--instance", instance] + list(extra)


def log_records(srv):
    out = []
    for line in list(srv.log_lines):
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def started(srv, job_ids=None):
    """{job id: times this server's log says it started it}."""
    counts = {}
    for rec in log_records(srv):
        if rec.get("msg") == "job started" and (job_ids is None or rec.get("job") in job_ids):
            counts[rec["job"]] = counts.get(rec["job"], 0) + 1
    return counts


def rows_for(srv, tok, trainee, seconds, probe=2000):
    """Rows a synthesize on trainee takes about `seconds` to make on this machine and build (a
    sanitizer build is many times slower), from the server's own timing of a probe job."""
    st, body, _ = srv.request("POST", "/v1/trainees/%s/synthesize" % trainee, {"rows": probe, "evaluate": False},
                              token=tok)
    assert st == 202, body
    job = srv.wait_job(body["job"]["id"], tok, timeout=300)
    assert job["state"] == "succeeded", job
    took = max(job["finished_ms"] - job["started_ms"], 1) / 1000.0
    return int(min(max(probe * seconds / took, probe), 200000))


def wait_for(what, cond, timeout, step=0.1):
    deadline = time.time() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError("%s: not within %ss" % (what, timeout))
        time.sleep(step)


class StoreState:
    """What the store references in S3, read straight from PostgreSQL."""

    def __init__(self, store):
        self.store = store

    def referenced(self):
        keys, previous = set(), set()
        for (k,) in cu.psql(self.store, "SELECT blob_key FROM datasets"):
            keys.add(k)
        for k, info in cu.psql(self.store, "SELECT blob_key, COALESCE(info_json, '{}') FROM trainees"):
            if k:
                keys.add(k)
            prev = json.loads(info).get(PREVIOUS)
            if prev:
                previous.add(prev)
        for j, h in cu.psql(self.store, "SELECT json_blob, html_blob FROM reports"):
            keys.update(x for x in (j, h) if x)
        return keys, previous - keys

    def job(self, job_id):
        rows = cu.psql(self.store, "SELECT state, attempts, owner FROM jobs WHERE id = '%s'" % job_id)
        return rows[0] if rows else None


@unittest.skipUnless(CLUSTER, SKIP_WHY)
class ClusterCase(unittest.TestCase):
    def assertBucketMatchesStore(self, store, prefix):
        """Every object under prefix is one the store references (or the previous version a
        trainee's info names), every referenced object is there, datasets have the size the store
        recorded, and no multipart upload is left open."""
        keys, previous = StoreState(store).referenced()
        listed = {k[len(prefix) + 1:]: size for k, size in cu.s3_list(prefix + "/").items()}
        self.assertEqual(set(listed) - keys - previous, set(), "objects the store does not reference")
        self.assertEqual(keys - set(listed), set(), "objects the store references but S3 lacks")
        for key, size in cu.psql(store, "SELECT blob_key, bytes FROM datasets"):
            self.assertEqual(listed[key], int(size), key)
        self.assertEqual(cu.s3_uploads(prefix + "/"), [], "unfinished multipart uploads")
        return listed


# ---------------------------------------------------------------- two processes, one store and bucket

class TwoServersTest(ClusterCase):
    def setUp(self):
        self.db, self.store = cu.new_database("two")
        self.prefix = self.db
        extra = ["--job_lease_s", str(LEASE_S), "--workers", "2"]
        self.a = CohortServer(REAL_BIN, extra_args=cluster_args(self.store, self.prefix, "a", extra)).start()
        self.b = CohortServer(REAL_BIN, extra_args=cluster_args(self.store, self.prefix, "b", extra)).start()
        self.tok = self.a.token()

    def tearDown(self):
        for srv in (self.a, self.b):
            rc = srv.stop()
            srv.cleanup()
            self.assertIn(rc, (0, None, -signal.SIGKILL), "\n".join(srv.log_lines[-30:]))

    def train(self, via, data, name):
        st, ds, _ = via.request("POST", "/v1/datasets?name=" + name, data, token=self.tok)
        self.assertEqual(st, 201, ds)
        st, body, _ = via.request("POST", "/v1/trainees", {"name": name, "dataset": ds["id"]}, token=self.tok)
        self.assertEqual(st, 202, body)
        return ds, body

    def test_state_is_shared(self):
        # A token made through a, a dataset uploaded through a: b knows both.
        ds, body = self.train(self.a, read(PENGUINS), "penguins")
        st, got, _ = self.b.request("GET", "/v1/datasets/" + ds["id"], token=self.tok)
        self.assertEqual((st, got["rows"]), (200, 344), got)
        st, raw, _ = self.b.request("GET", "/v1/datasets/%s/download" % ds["id"], token=self.tok, raw=True)
        self.assertEqual((st, raw), (200, read(PENGUINS)))
        job = self.b.wait_job(body["job"]["id"], self.tok, timeout=60)
        self.assertEqual(job["state"], "succeeded", job)
        tr = body["trainee"]["id"]
        row = {"island": "Biscoe", "flipper_length_mm": 221}
        answers = []
        for srv in (self.a, self.b):
            st, res, _ = srv.request("POST", "/v1/trainees/%s/predict" % tr, {"targets": ["species"], "rows": [row]},
                                     token=self.tok)
            self.assertEqual(st, 200, res)
            answers.append(res["predictions"])
        self.assertEqual(answers[0], answers[1])
        # A trainee made through b is listed through a, and both see one administrator.
        ds2, body2 = self.train(self.b, b"a,b\n1,x\n2,y\n3,x\n4,y\n", "small")
        self.assertEqual(self.a.wait_job(body2["job"]["id"], self.tok, timeout=60)["state"], "succeeded")
        st, lst, _ = self.a.request("GET", "/v1/trainees", token=self.tok)
        self.assertEqual({t["id"] for t in lst["trainees"]}, {tr, body2["trainee"]["id"]})
        self.assertEqual(cu.psql(self.store, "SELECT count(*) FROM users"), [["1"]])
        self.assertBucketMatchesStore(self.store, self.prefix)

    def test_auth_changes_reach_the_other_process(self):
        # Each process keeps resolved tokens, memberships and trainee records for auth_cache_s (2 s by
        # default): a change made through a is refused by a at once and by b within that time.
        ttl, slack = 2.0, 1.0
        ds, body = self.train(self.a, b"a,b\n1,x\n2,y\n3,x\n4,y\n", "tiny")
        tr = body["trainee"]["id"]
        self.assertEqual(self.a.wait_job(body["job"]["id"], self.tok, timeout=60)["state"], "succeeded")
        st, body, _ = self.a.request("POST", "/v1/users", {"name": "vera", "password": "vera-password-1"},
                                     token=self.tok)
        self.assertEqual(st, 201, body)
        st, ws, _ = self.a.request("POST", "/v1/workspaces", {"name": "shared"}, token=self.tok)
        self.assertEqual(st, 201, ws)
        st, body, _ = self.a.request("PUT", "/v1/workspaces/%s/members/vera" % ws["id"], {"role": "viewer"},
                                     token=self.tok)
        self.assertEqual(st, 200, body)
        vera = self.a.token("vera", "vera-password-1", name="one")
        vera2 = self.a.token("vera", "vera-password-1", name="two")
        ws_path, predict = "/v1/workspaces/" + ws["id"], "/v1/trainees/%s/predict" % tr
        question = {"targets": ["b"], "rows": [{"a": 1}]}

        def refused_within(what, srv, call, refused):
            t0 = time.time()
            wait_for(what, lambda: call(srv)[0] in refused, ttl + slack, step=0.05)
            took = time.time() - t0
            sys.stderr.write("\n  %s: refused by the other process after %.2f s\n" % (what, took))
            self.assertLessEqual(took, ttl + slack, what)

        def warm(call):  # the second answer of each process comes from its cache
            for _ in range(2):
                for srv in (self.a, self.b):
                    self.assertEqual(call(srv)[0], 200)

        in_ws = lambda srv: srv.request("GET", ws_path, token=vera)
        warm(in_ws)
        st, body, _ = self.a.request("PUT", "/v1/workspaces/%s/members/vera" % ws["id"], {"role": "none"},
                                     token=self.tok)
        self.assertEqual(st, 200, body)
        self.assertEqual(in_ws(self.a)[0], 404)
        refused_within("membership removal", self.b, in_ws, (404,))

        me = lambda srv: srv.request("GET", "/v1/me", token=vera2)
        warm(me)
        st, body, _ = self.a.request("PUT", "/v1/me/password",
                                     {"current": "vera-password-1", "password": "vera-password-2"}, token=vera)
        self.assertEqual((st, body.get("tokens_revoked")), (200, 2), body)
        self.assertEqual(me(self.a)[0], 401)
        refused_within("password change", self.b, me, (401,))

        ask = lambda srv: srv.request("POST", predict, question, token=self.tok)
        warm(ask)
        self.assertEqual(self.a.request("DELETE", "/v1/trainees/" + tr, token=self.tok)[0], 200)
        self.assertEqual(ask(self.a)[0], 404)
        refused_within("trainee deletion", self.b, ask, (404,))

    def test_fifty_jobs_run_once(self):
        trainees = []
        for i in range(5):
            _, body = self.train((self.a, self.b)[i % 2], read(PENGUINS), "p%d" % i)
            trainees.append(body)
        for body in trainees:
            self.assertEqual(self.a.wait_job(body["job"]["id"], self.tok, timeout=120)["state"], "succeeded")
        # Submitted through both, as a load balancer would spread them; small synthesize jobs.
        jobs = []
        for i in range(50):
            srv = (self.a, self.b)[i % 2]
            tr = trainees[i % 5]["trainee"]["id"]
            st, body, _ = srv.request("POST", "/v1/trainees/%s/synthesize" % tr,
                                      {"rows": 200, "seed": i, "evaluate": False}, token=self.tok)
            self.assertEqual(st, 202, body)
            jobs.append(body["job"]["id"] if "job" in body else body["id"])
        for job_id in jobs:
            job = self.a.wait_job(job_id, self.tok, timeout=300)
            self.assertEqual((job["state"], job["attempts"]), ("succeeded", 1), job)
        ids = set(jobs)
        sa, sb = started(self.a, ids), started(self.b, ids)
        for job_id in jobs:
            self.assertEqual(sa.get(job_id, 0) + sb.get(job_id, 0), 1, job_id)
        self.assertGreater(len(sa), 0, "process a ran none of the jobs")
        self.assertGreater(len(sb), 0, "process b ran none of the jobs")
        owners = dict(cu.psql(self.store, "SELECT owner, count(*) FROM jobs WHERE kind = 'synthesize' GROUP BY owner"))
        self.assertEqual(owners, {"a": str(len(sa)), "b": str(len(sb))})
        sys.stderr.write("\n  50 jobs: process a ran %d, process b ran %d\n" % (len(sa), len(sb)))
        self.assertBucketMatchesStore(self.store, self.prefix)

    def test_kill_mid_job_other_takes_over(self):
        ds, body = self.train(self.a, abalone(), "abalone")
        tr = body["trainee"]["id"]
        self.assertEqual(self.a.wait_job(body["job"]["id"], self.tok, timeout=120)["state"], "succeeded")
        st, t0, _ = self.a.request("GET", "/v1/trainees/" + tr, token=self.tok)
        v0, blob0 = cu.psql(self.store, "SELECT version, blob_key FROM trainees WHERE id = '%s'" % tr)[0]
        # A synthesize long enough to be caught mid-run, and an analyze queued behind it (one writer
        # per trainee): the analyze commits the next version once the synthesize is done.
        rows = rows_for(self.a, self.tok, tr, 8)
        st, syn, _ = self.a.request("POST", "/v1/trainees/%s/synthesize" % tr, {"rows": rows, "seed": 7},
                                    token=self.tok)
        self.assertEqual(st, 202, syn)
        syn_id = syn["job"]["id"] if "job" in syn else syn["id"]
        st, ana, _ = self.b.request("POST", "/v1/trainees/%s/analyze" % tr, {}, token=self.tok)
        self.assertEqual(st, 202, ana)
        ana_id = ana["job"]["id"] if "job" in ana else ana["id"]

        def mid_run():
            st, job, _ = self.a.request("GET", "/v1/jobs/" + syn_id, token=self.tok)
            return job["state"] == "running" and 0.05 < job["progress"] < 0.5 and job
        wait_for("synthesize mid-run", mid_run, 60, 0.05)
        owner = StoreState(self.store).job(syn_id)[2]
        victim, survivor = (self.a, self.b) if owner == "a" else (self.b, self.a)
        self.assertEqual(victim.kill(), -signal.SIGKILL)
        killed_at = time.time()

        job = survivor.wait_job(syn_id, self.tok, timeout=300)
        took = time.time() - killed_at
        self.assertEqual((job["state"], job["attempts"]), ("succeeded", 2), job)
        self.assertEqual(StoreState(self.store).job(syn_id)[2], "b" if owner == "a" else "a")
        self.assertEqual(started(victim, {syn_id}), {syn_id: 1})
        self.assertEqual(started(survivor, {syn_id}), {syn_id: 1})
        sys.stderr.write("\n  kill -9 of %s: job %s finished on the other %.1f s later\n" % (owner, syn_id, took))
        ajob = survivor.wait_job(ana_id, self.tok, timeout=120)
        self.assertEqual((ajob["state"], ajob["attempts"]), ("succeeded", 1), ajob)
        # The versions: exactly one commit after the kill, by the analyze; it names the one before.
        v1, blob1, info = cu.psql(self.store, "SELECT version, blob_key, info_json FROM trainees WHERE id = '%s'" % tr)[0]
        self.assertEqual(int(v1), int(v0) + 1)
        self.assertEqual(blob1, "trainees/%s/v%d-%s-1.cohort" % (tr, int(v1), ana_id))
        self.assertEqual(json.loads(info).get(PREVIOUS), blob0)
        self.assertEqual(ajob["result"]["version"], int(v1))
        # The synthetic dataset and its report are whole, and nothing else was left in the bucket.
        st, out, _ = survivor.request("GET", "/v1/datasets/" + job["result"]["dataset"], token=self.tok)
        self.assertEqual((st, out["rows"]), (200, rows), out)
        st, rep, _ = survivor.request("GET", "/v1/reports/" + job["result"]["report"], token=self.tok)
        self.assertEqual(st, 200, rep)
        listed = self.assertBucketMatchesStore(self.store, self.prefix)
        self.assertIn(blob0, listed)
        self.assertEqual(sorted(k for k in listed if k.startswith("trainees/")), sorted([blob0, blob1]))
        st, res, _ = survivor.request("POST", "/v1/trainees/%s/predict" % tr,
                                      {"targets": ["rings"], "rows": [{"sex": "M", "length": 0.5}]}, token=self.tok)
        self.assertEqual(st, 200, res)


# ---------------------------------------------------------------- PostgreSQL restarts under load

class SharedBackoffTest(ClusterCase):
    """Sign-in backoff lives in the store: two processes on one database share every count
    (before, each kept its own table, so N replicas gave N times the guesses)."""
    ARGS = ["--login_free_failures", "3", "--login_backoff_max_s", "4"]

    def setUp(self):
        self.db, self.store = cu.new_database("bo")
        self.a = CohortServer(REAL_BIN, extra_args=cluster_args(self.store, self.db, "a", self.ARGS)).start()
        self.b = CohortServer(REAL_BIN, extra_args=cluster_args(self.store, self.db, "b", self.ARGS)).start()

    def tearDown(self):
        cu.psql(cu.env("COHORT_TEST_PG_URL"), "ALTER DATABASE %s ALLOW_CONNECTIONS true" % self.db)
        for srv in (self.a, self.b):
            rc = srv.stop()
            srv.cleanup()
            self.assertIn(rc, (0, None, -signal.SIGKILL), "\n".join(srv.log_lines[-30:]))

    def login(self, srv, user, password):
        return srv.request("POST", "/v1/auth/login", {"username": user, "password": password})

    def test_failures_on_two_processes_add_up(self):
        for srv in (self.a, self.b, self.a, self.b):
            self.assertEqual(self.login(srv, "admin", "wrong-password")[0], 401)
        for srv in (self.a, self.b):
            st, body, hdrs = self.login(srv, "admin", ADMIN_PASSWORD)
            self.assertEqual((st, body["error"]["code"]), (429, "too_many_attempts"), body)
            self.assertEqual(hdrs["Retry-After"], "1")
        self.assertEqual(cu.psql(self.store, "SELECT failures FROM login_backoff WHERE key = 'user:admin'"), [["4"]])
        time.sleep(1.1)
        self.assertEqual(self.login(self.b, "admin", ADMIN_PASSWORD)[0], 200)
        self.assertEqual(cu.psql(self.store, "SELECT count(*) FROM login_backoff WHERE key = 'user:admin'"), [["0"]])

    def test_store_outage_is_503(self):
        self.assertEqual(self.login(self.a, "admin", "wrong-password")[0], 401)
        # This database alone goes away: new connections refused, the open ones ended.
        base = cu.env("COHORT_TEST_PG_URL")
        cu.psql(base, "ALTER DATABASE %s ALLOW_CONNECTIONS false" % self.db)
        cu.psql(base, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '%s'" % self.db)
        for srv in (self.a, self.b):
            st, body, hdrs = self.login(srv, "admin", "wrong-password")
            self.assertEqual((st, body["error"]["code"]), (503, "unavailable"), body)
            self.assertIn("PostgreSQL unavailable", body["error"]["message"])
            self.assertEqual(hdrs["Retry-After"], "1")
        cu.psql(base, "ALTER DATABASE %s ALLOW_CONNECTIONS true" % self.db)
        wait_for("sign-in after the outage", lambda: self.login(self.a, "admin", ADMIN_PASSWORD)[0] == 200, 10)
        # The failure before the outage counted (the success cleared the account's, not the
        # client's); none during it.
        self.assertEqual(cu.psql(self.store, "SELECT key, failures FROM login_backoff"), [["client:127.0.0.1", "1"]])


class PostgresRestartTest(ClusterCase):
    OUTAGE_S = 6
    RECOVER_S = 30  # everything works again this long after PostgreSQL is back
    REQUEST_S = 20  # no request waits longer than this, outage or not

    def test_restart_under_load(self):
        db, store = cu.new_database("pgr")
        srv = CohortServer(REAL_BIN, extra_args=cluster_args(store, db, "solo", [
            "--store_timeout_ms", "2000", "--job_lease_s", "5", "--http_threads", "8"]))
        srv.start()
        try:
            self.run_restart(srv, store)
        finally:
            if not os.path.exists(os.path.join(cu.env("COHORT_TEST_PG_DIR"), "postgres.pid")):
                cu.pg_start()  # never leave the shared server down for the next test
            self.assertEqual(srv.stop(), 0, "\n".join(srv.log_lines[-30:]))
            srv.cleanup()

    def run_restart(self, srv, store):
        tok = srv.token()
        st, ds, _ = srv.request("POST", "/v1/datasets?name=p", read(PENGUINS), token=tok)
        self.assertEqual(st, 201, ds)
        st, body, _ = srv.request("POST", "/v1/trainees", {"name": "p", "dataset": ds["id"]}, token=tok)
        tr = body["trainee"]["id"]
        self.assertEqual(srv.wait_job(body["job"]["id"], tok, timeout=60)["state"], "succeeded")
        # A job that runs across the outage: acknowledged, so it must finish once PostgreSQL is back.
        rows = rows_for(srv, tok, tr, 12)
        st, body, _ = srv.request("POST", "/v1/trainees/%s/synthesize" % tr, {"rows": rows, "evaluate": False},
                                  token=tok)
        self.assertEqual(st, 202, body)
        long_job = body["job"]["id"]

        stop = threading.Event()
        lock = threading.Lock()
        log = []  # (time, op, status, code, retry_after, seconds)
        acked = {"datasets": [], "jobs": [long_job]}
        row = {"island": "Biscoe", "flipper_length_mm": 221}

        def client(n):
            i = 0
            while not stop.is_set() and i < 5000:
                i += 1
                op = ("predict", "list", "upload", "job")[i % 4]
                if op == "predict":
                    r = cu.call(srv.url, "POST", "/v1/trainees/%s/predict" % tr,
                                {"targets": ["species"], "rows": [row]}, tok, timeout=self.REQUEST_S + 10)
                elif op == "list":
                    r = cu.call(srv.url, "GET", "/v1/datasets", token=tok, timeout=self.REQUEST_S + 10)
                elif op == "upload":
                    r = cu.call(srv.url, "POST", "/v1/datasets?name=c%d-%d" % (n, i), b"a,b\n1,x\n2,y\n", tok,
                                timeout=self.REQUEST_S + 10)
                else:
                    r = cu.call(srv.url, "POST", "/v1/trainees/%s/synthesize" % tr,
                                {"rows": 10, "evaluate": False}, tok, timeout=self.REQUEST_S + 10)
                st, payload, hdrs, secs = r
                code = payload.get("error", {}).get("code") if isinstance(payload, dict) else None
                with lock:
                    log.append((time.time(), op, st, code, hdrs.get("Retry-After"), secs))
                    if op == "upload" and st == 201:
                        acked["datasets"].append(payload["id"])
                    if op == "job" and st == 202:
                        acked["jobs"].append(payload["job"]["id"])
                time.sleep(0.02)

        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(3)]
        for t in threads:
            t.start()
        try:
            time.sleep(2)
            st, job, _ = srv.request("GET", "/v1/jobs/" + long_job, token=tok)
            self.assertEqual(job["state"], "running", job)
            t_down = time.time()
            cu.pg_stop()
            time.sleep(1)
            st, ready, hdrs, secs = cu.call(srv.url, "GET", "/readyz", timeout=self.REQUEST_S)
            self.assertEqual(st, 503, ready)
            reason = json.dumps(ready)
            self.assertIn("PostgreSQL", reason)
            time.sleep(self.OUTAGE_S - 1)
            cu.pg_start()
            t_up = time.time()
            # Recovered: a full round of every kind of request succeeds, and /readyz says ready.
            def healthy():
                st1 = cu.call(srv.url, "GET", "/readyz", timeout=self.REQUEST_S)[0]
                st2 = cu.call(srv.url, "POST", "/v1/trainees/%s/predict" % tr, {"targets": ["species"], "rows": [row]},
                              tok, timeout=self.REQUEST_S)[0]
                st3 = cu.call(srv.url, "GET", "/v1/datasets", token=tok, timeout=self.REQUEST_S)[0]
                return (st1, st2, st3) == (200, 200, 200)
            wait_for("recovery after PostgreSQL restarted", healthy, self.RECOVER_S, 0.2)
            recovered = time.time() - t_up
            time.sleep(2)  # a little load after recovery
        finally:
            stop.set()
            for t in threads:
                t.join(self.REQUEST_S + 15)
        self.assertFalse(any(t.is_alive() for t in threads), "a client is stuck")
        during = [e for e in log if t_down + 0.5 < e[0] < t_up]
        after = [e for e in log if e[0] > t_up + recovered + 0.5]
        bad = [e for e in log if e[2] not in (200, 201, 202, 503)]
        self.assertEqual(bad, [], "answers other than 2xx and 503")
        for e in log:
            if e[2] == 503:
                self.assertEqual((e[3], e[4]), ("unavailable", "1"), e)
        self.assertLess(max(e[5] for e in log), self.REQUEST_S, "a request waited too long")
        self.assertTrue([e for e in during if e[2] == 503], "no 503 while PostgreSQL was down")
        self.assertTrue(after and all(e[2] in (200, 201, 202) for e in after),
                        [e for e in after if e[2] not in (200, 201, 202)])
        sys.stderr.write("\n  %d requests, %d during the outage (%d answered 503), recovered %.1f s after "
                         "PostgreSQL was back\n" % (len(log), len(during), sum(e[2] == 503 for e in during),
                                                   recovered))
        # Nothing acknowledged is lost: every dataset and job answered 2xx is there, and every job
        # finishes (the one that ran across the outage too).
        for ds_id in acked["datasets"]:
            st, got, _ = srv.request("GET", "/v1/datasets/" + ds_id, token=tok)
            self.assertEqual(st, 200, (ds_id, got))
        for job_id in acked["jobs"]:
            job = srv.wait_job(job_id, tok, timeout=300)
            self.assertEqual(job["state"], "succeeded", job)
        self.assertGreater(len(acked["datasets"]), 0)
        # The job that ran across the outage was interrupted, not cancelled: nobody asked to cancel it.
        history = [(r["msg"], r.get("state")) for r in log_records(srv) if r.get("job") == long_job]
        self.assertNotIn(("job finished", "cancelled"), history)
        sys.stderr.write("  the job that ran across the outage: %s\n" % history)
        self.assertBucketMatchesStore(store, store.rsplit("/", 1)[1])


# ---------------------------------------------------------------- S3 faults (through tests/s3_fault_proxy.py)

class S3FaultTest(ClusterCase):
    """One server whose blobs endpoint is the fault proxy; the checks read S3 directly."""

    @classmethod
    def setUpClass(cls):
        cls.proxy = cu.FaultProxy().start()
        cls.db, cls.store = cu.new_database("s3f")
        blobs = "s3://%s/%s?endpoint=%s" % (cu.env("COHORT_TEST_S3_BUCKET"), cls.db, cls.proxy.endpoint)
        cls.srv = CohortServer(REAL_BIN, extra_args=["--store", cls.store, "--blobs", blobs, "--instance", "s3f"])
        try:
            cls.srv.start()
        except Exception:
            cls.proxy.stop()
            raise
        cls.tok = cls.srv.token()

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.srv.cleanup()
        cls.proxy.stop()
        secret = cu.env("AWS_SECRET_ACCESS_KEY")
        assert not [line for line in cls.srv.log_lines if secret in line], "the S3 secret is in the log"
        assert rc == 0, "server exited with %s:\n%s" % (rc, "\n".join(cls.srv.log_lines[-30:]))

    def setUp(self):
        if not self.proxy.proc:
            self.proxy.start()
        self.proxy.reset()

    def keys(self):
        return cu.s3_list(self.db + "/")

    def upload(self, data, name="d"):
        return cu.call(self.srv.url, "POST", "/v1/datasets?name=" + name, data, self.tok, timeout=300)

    def assertStored(self, resp, data):
        st, ds, _, secs = resp
        self.assertEqual(st, 201, ds)
        key = "%s/datasets/%s.csv" % (self.db, ds["id"])
        self.assertEqual(self.keys().get(key), len(data))
        st, body = cu.s3_get(key)
        self.assertEqual((st, body == data), (200, True))
        self.assertEqual(cu.s3_uploads(self.db + "/"), [])
        return ds

    def assertRefused(self, resp, before, words, bound):
        """A clear 5xx naming the blob store, within bound seconds, and nothing new in the bucket."""
        st, body, _, secs = resp
        self.assertGreaterEqual(st, 500, body)
        self.assertLess(st, 600, body)
        self.assertIsInstance(body, dict, body)
        msg = body["error"]["message"]
        self.assertTrue(msg.startswith("blobs"), msg)
        for w in words:
            self.assertIn(w, msg)
        self.assertNotIn(cu.env("AWS_SECRET_ACCESS_KEY"), msg)
        self.assertLess(secs, bound)
        self.assertEqual(self.keys(), before, "an object appeared for a refused upload")
        self.assertEqual(cu.s3_uploads(self.db + "/"), [], "a multipart upload was left open")
        sys.stderr.write("\n  %d in %.1f s: %s\n" % (st, secs, msg))
        return msg

    def test_500_then_success(self):
        data = read(PENGUINS)
        self.proxy.arm("fail", 2, "PUT /")
        self.assertStored(self.upload(data), data)
        self.assertEqual(self.proxy.stats()["injected"], 2)

    def test_500_persistent_is_a_clear_error(self):
        before = self.keys()
        self.proxy.arm("fail", 1000, "PUT /")
        msg = self.assertRefused(self.upload(read(PENGUINS)), before, ["HTTP 500", "InternalError"], 60)
        self.assertGreaterEqual(self.proxy.stats()["injected"], 2, msg)  # it did retry
        self.proxy.reset()
        self.assertStored(self.upload(read(PENGUINS)), read(PENGUINS))

    def test_dropped_connections_and_lost_answers(self):
        before = self.keys()
        self.proxy.arm("drop", 1000, "PUT /")
        self.assertRefused(self.upload(read(PENGUINS)), before, ["no complete answer"], 60)
        # The PUT reaches S3 but its answer is lost: the retry stores the same bytes again.
        self.proxy.arm("lose", 1, "PUT /")
        self.assertStored(self.upload(read(PENGUINS)), read(PENGUINS))

    def test_corrupted_body_is_refused(self):
        before = self.keys()
        self.proxy.arm("corrupt", 1, "PUT /")
        self.assertRefused(self.upload(read(PENGUINS)), before, ["HTTP 400"], 60)

    def test_hang_is_bounded(self):
        # One request held without an answer: the stall timeout ends it, the retry stores the object.
        self.proxy.arm("hang", 1, "PUT /")
        resp = self.upload(read(PENGUINS))
        self.assertStored(resp, read(PENGUINS))
        self.assertLess(resp[3], 90)

    def test_multipart_failure_leaves_no_parts(self):
        rows = b"".join(b"%d,%d.125,v%d\n" % (i, i * 7, i % 97) for i in range(900000))
        data = b"id,x,v\n" + rows
        self.assertGreater(len(data), 17 << 20)  # above the 16 MiB multipart threshold: two parts
        before = self.keys()
        self.proxy.arm("fail", 1000, "partNumber=2")
        self.assertRefused(self.upload(data, "big"), before, ["part 2"], 120)
        self.assertTrue(any(r.startswith("DELETE ") and "uploadId=" in r for r in self.proxy.stats()["requests"]),
                        "the unfinished upload was not aborted")
        self.proxy.arm("fail", 1, "partNumber=2")
        self.assertStored(self.upload(data, "big"), data)

    def test_proxy_gone_then_back(self):
        before = self.keys()
        self.proxy.stop()
        self.assertRefused(self.upload(read(PENGUINS)), before, ["cannot reach"], 60)
        self.proxy.start()
        ds = self.assertStored(self.upload(read(PENGUINS)), read(PENGUINS))
        # A job whose output cannot be stored fails with the reason, and leaves nothing behind.
        before = self.keys()
        self.proxy.arm("fail", 1000, "PUT /")
        st, body, _ = self.srv.request("POST", "/v1/trainees", {"name": "t", "dataset": ds["id"]}, token=self.tok)
        self.assertEqual(st, 202, body)
        job = self.srv.wait_job(body["job"]["id"], self.tok, timeout=120)
        self.assertEqual(job["state"], "failed", job)
        self.assertIn("blobs", job["error"])
        self.assertEqual(self.keys(), before)
        st, t, _ = self.srv.request("GET", "/v1/trainees/" + body["trainee"]["id"], token=self.tok)
        self.assertEqual((st, t["version"]), (200, 0), t)

    def test_zz_bucket_matches_store(self):
        self.assertBucketMatchesStore(self.store, self.db)


# ---------------------------------------------------------------- bad cluster settings at start-up

class StartupErrorsTest(ClusterCase):
    BOUND_S = 30
    PG_SECRET = "Pg-Secret-4711"
    S3_SECRET = "wrong-s3-secret-4711"

    @classmethod
    def setUpClass(cls):
        cls.db, cls.store = cu.new_database("bad")
        cls.port = cu.env("COHORT_TEST_PG_PORT")
        cls.bucket = cu.env("COHORT_TEST_S3_BUCKET")

    def serve(self, store, blobs, env=None):
        """Runs `cohort serve` that must fail: returns its one line of output, parsed."""
        data = tempfile.mkdtemp(prefix="cohort-bad-")
        e = dict(os.environ, COHORT_ADMIN_PASSWORD=ADMIN_PASSWORD)
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        t0 = time.time()
        try:
            e["COHORT_STORE"] = store  # not on the command line: it may hold a password
            res = subprocess.run([REAL_BIN, "serve", "--listen", "127.0.0.1:0", "--data_dir", data, "--blobs", blobs,
                                  "--store_timeout_ms", "3000"], env=e, capture_output=True, text=True,
                                 timeout=self.BOUND_S)
        except subprocess.TimeoutExpired:
            self.fail("cohort serve did not give up within %ss (store %s, blobs %s)" % (self.BOUND_S, store, blobs))
        finally:
            import shutil
            shutil.rmtree(data, ignore_errors=True)
        took = time.time() - t0
        out = res.stdout + res.stderr
        lines = [line for line in out.splitlines() if line.strip()]
        self.assertNotEqual(res.returncode, 0, out)
        self.assertEqual(len(lines), 1, out)
        for secret in (self.PG_SECRET, self.S3_SECRET, cu.env("AWS_SECRET_ACCESS_KEY"), "Secret%zz"):
            self.assertNotIn(secret, out)
        rec = json.loads(lines[0])
        self.assertEqual(rec["msg"], "cannot start", rec)
        return rec["error"], took

    def good_blobs(self):
        return "s3://%s/%s" % (self.bucket, self.db)

    def test_store_settings(self):
        pw = self.PG_SECRET
        cases = [
            ("mysql://u:%s@127.0.0.1/db" % pw, "names no backend"),
            ("postgresql//cohort:%s@127.0.0.1/db" % pw, "not a URL"),
            ("postgres://cohort:%s@[127.0.0.1/cohort" % pw, "not a valid PostgreSQL URL"),
            ("postgres://cohort:Secret%%zz@127.0.0.1:%s/cohort" % self.port, "not a valid PostgreSQL URL"),
            ("postgres://cohort:%s@127.0.0.1:%s/cohort?nosuchoption=1" % (pw, self.port), "nosuchoption"),
            ("postgres://cohort:%s@127.0.0.1:notaport/cohort" % pw, "port"),
            ("postgres://cohort:%s@127.0.0.1:%s/cohort" % (pw, self.port), "password authentication failed"),
            ("postgres://cohort:cohort@127.0.0.1:%s/no_such_db" % self.port, "no_such_db"),
            ("postgres://cohort:cohort@127.0.0.1:1/cohort", "127.0.0.1"),  # nothing listens on port 1
        ]
        for store, words in cases:
            with self.subTest(store=store):
                err, took = self.serve(store, self.good_blobs())
                self.assertTrue(err.startswith("store"), err)
                self.assertIn(words, err)
                sys.stderr.write("\n  %.1f s: %s" % (took, err))

    def test_blobs_settings(self):
        b = self.bucket
        cases = [
            ("s3://", {}, "names no bucket"),
            ("s3://Not A Bucket!/x", {}, "bucket"),
            ("s3://%s/x?colour=blue" % b, {}, "colour"),
            ("s3://%s/x?endpoint=ftp://127.0.0.1:1" % b, {}, "endpoint"),
            ("s3://%s/x" % b, {"AWS_SECRET_ACCESS_KEY": self.S3_SECRET}, "credentials refused"),
            ("s3://%s/x" % b, {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, "credentials"),
            ("s3://no-such-bucket-4711/x", {}, "not found"),
            ("s3://%s/x?endpoint=http://127.0.0.1:1" % b, {}, "cannot reach"),
        ]
        for blobs, env, words in cases:
            with self.subTest(blobs=blobs, env=env):
                err, took = self.serve(self.store, blobs, env)
                self.assertTrue(err.startswith("blobs"), err)
                self.assertIn(words, err)
                sys.stderr.write("\n  %.1f s: %s" % (took, err))


if __name__ == "__main__":
    unittest.main()
