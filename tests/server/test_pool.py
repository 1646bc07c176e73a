"""The compute pool (issue 8, item 6): engine work runs on a bounded pool of compute_threads
threads, never on the HTTP threads, so /healthz and /metrics answer while every compute thread
is busy and queries queue behind each other. A real `cohort serve` on 127.0.0.1; every loop is
bounded in count and time."""
import math
import os
import random
import re
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import CohortServer  # noqa: E402

BIN = os.environ.get("COHORT_BIN", os.path.join(ROOT, "build", "cohort"))
# A generous liveness bound, not a speed target: a health check stuck behind a query takes as
# long as the query (seconds here).
HEALTH_BOUND_S = 1.0


def _sanitized(path):
    """Sanitizer builds run the engine 10-20 times slower: a smaller table keeps the saturating
    queries as heavy, in seconds, as the ordinary build's."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        return b"AddressSanitizer" in data or b"ThreadSanitizer" in data
    except OSError:
        return False


CASES = 2000 if _sanitized(BIN) else 10000


def random_csv(rows, cols):
    """Independent uniform columns: no structure the neighbour search could exploit, so scoring
    every case costs a known, sizeable amount (about 0.5 s on one thread for 10,000 x 12)."""
    rng = random.Random(1)
    head = ",".join("x%d" % i for i in range(cols))
    lines = [head] + [",".join("%.3f" % rng.random() for _ in range(cols)) for _ in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def metric(srv, name):
    st, body, _ = srv.request("GET", "/metrics")
    assert st == 200, body
    return int(re.search(rb"^" + name.encode() + rb" (\d+)$", body, re.M).group(1))


@unittest.skipIf(os.environ.get("COHORT_TEST_ROLES"), "the compute pool of one process (under COHORT_TEST_ROLES queries run on the workers' pools)")
class ComputePoolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # One compute thread, four HTTP threads: six slow queries at once fill the pool and its
        # queue, and would hold every HTTP thread if they ran there.
        cls.srv = CohortServer(BIN, extra_args=["--compute_threads", "1", "--http_threads", "4"]).start()
        cls.tok = cls.srv.token()
        st, ds, _ = cls.srv.request("POST", "/v1/datasets?name=big", random_csv(CASES, 12), token=cls.tok)
        assert st == 201, ds
        st, body, _ = cls.srv.request("POST", "/v1/trainees", {"name": "big", "dataset": ds["id"]}, token=cls.tok)
        assert st == 202, body
        cls.tr = body["trainee"]["id"]
        job = cls.srv.wait_job(body["job"]["id"], cls.tok)
        assert job["state"] == "succeeded", job

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.srv.cleanup()
        assert rc == 0, "server exited with %s" % rc

    def test_size_is_logged_with_its_reason(self):
        lines = [l for l in self.srv.log_lines if '"compute pool"' in l]
        self.assertEqual(len(lines), 1, self.srv.log_lines[:10])
        self.assertIn('"threads":"1"', lines[0])
        self.assertIn("compute_threads setting", lines[0])
        self.assertEqual(metric(self.srv, "cohort_compute_threads"), 1)

    def test_health_answers_while_the_pool_is_saturated(self):
        path = "/v1/trainees/%s/anomalies" % self.tr
        t0 = time.perf_counter()
        st, body, _ = self.srv.request("POST", path, {"top": 3}, token=self.tok)
        one = time.perf_counter() - t0
        self.assertEqual(st, 200, body)
        self.assertEqual(body["scored"], CASES)
        # The precondition of the check below: the queries queued at once hold at least three times
        # the bound of work, so a health check that waited behind them could not meet it. On a fast
        # machine that takes more of them.
        self.assertGreater(one, 0.01, "anomalies over %d cases took only %.3f s" % (CASES, one))
        n = min(60, max(6, math.ceil(3 * HEALTH_BOUND_S / one)))

        results = []
        lock = threading.Lock()

        def slow():
            st, body, _ = self.srv.request("POST", path, {"top": 3}, token=self.tok)
            with lock:
                results.append(st)

        clients = [threading.Thread(target=slow) for _ in range(n)]
        for c in clients:
            c.start()
        worst = 0.0
        saturated = False
        deadline = time.monotonic() + 120
        try:
            while any(c.is_alive() for c in clients) and time.monotonic() < deadline:
                t0 = time.perf_counter()
                st, body, _ = self.srv.request("GET", "/healthz")
                worst = max(worst, time.perf_counter() - t0)
                self.assertEqual(st, 200, body)
                t0 = time.perf_counter()
                busy, queued = metric(self.srv, "cohort_compute_busy"), metric(self.srv, "cohort_compute_queued")
                worst = max(worst, time.perf_counter() - t0)
                saturated |= busy == 1 and queued >= 2
                time.sleep(0.05)
        finally:
            for c in clients:
                c.join(180)
        self.assertEqual(results, [200] * n)
        self.assertTrue(saturated, "the pool never had one query running and two waiting")
        self.assertLess(worst, HEALTH_BOUND_S, "a health or metrics request took %.3f s" % worst)

    def test_small_and_large_predicts_agree(self):
        # One row runs on the HTTP thread (cheaper than the hand-off), many on the pool: same answers.
        rows = [{"x0": 1.0 + i, "x1": 2.0, "x2": 3.0} for i in range(40)]
        st, many, _ = self.srv.request("POST", "/v1/trainees/%s/predict" % self.tr,
                                       {"targets": ["x11"], "rows": rows}, token=self.tok)
        self.assertEqual(st, 200, many)
        for i in (0, 17, 39):
            st, one, _ = self.srv.request("POST", "/v1/trainees/%s/predict" % self.tr,
                                          {"targets": ["x11"], "rows": [rows[i]]}, token=self.tok)
            self.assertEqual(st, 200, one)
            self.assertEqual(one["predictions"][0], many["predictions"][i])

    def test_errors_from_the_pool_name_their_field(self):
        rows = [{"x0": 1.0}] * 40
        st, body, _ = self.srv.request("POST", "/v1/trainees/%s/predict" % self.tr,
                                       {"targets": ["nope"], "rows": rows}, token=self.tok)
        self.assertEqual(st, 400, body)
        self.assertEqual(body["error"]["field"], "targets")
        self.assertIn("nope", body["error"]["message"])


if __name__ == "__main__":
    unittest.main()
