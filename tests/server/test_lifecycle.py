"""Deletes mean what they say (issue 12, Lifecycle): deleting a trainee cancels its queued and running
jobs and waits for them, so no dataset or report appears afterwards for a trainee that is gone;
deleting a dataset that a queued or running job reads, or that trainees were made from, is a 409
in_use naming them (?force=true deletes it from under the trainees, which keep their own rows).
Runs on the embedded default and, under tests/with-cluster.sh, on PostgreSQL + S3.
"""
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import ServerTestCase  # noqa: E402

PENGUINS = os.path.join(ROOT, "tests", "data", "penguins.csv")
BIG_SYNTH = {"rows": 1000000}  # seconds of work on penguins: long enough to be caught running


class LifecycleTest(ServerTestCase):
    SERVER_ARGS = ("--workers", "1")  # one job thread: a second job waits in the queue while the first runs

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with open(PENGUINS, "rb") as f:
            cls.csv = f.read()

    def upload(self, name):
        st, ds, _ = self.req("POST", "/v1/datasets?name=" + name, self.csv)
        self.assertEqual(st, 201, ds)
        return ds["id"]

    def train(self, ds, name):
        st, body, _ = self.req("POST", "/v1/trainees", {"name": name, "dataset": ds})
        self.assertEqual(st, 202, body)
        job = self.srv.wait_job(body["job"]["id"], self.tok)
        self.assertEqual(job["state"], "succeeded", job)
        return body["trainee"]["id"]

    def job(self, job_id):
        st, job, _ = self.req("GET", "/v1/jobs/" + job_id)
        self.assertEqual(st, 200, job)
        return job

    def submit(self, tr, kind, params):
        st, body, _ = self.req("POST", "/v1/trainees/%s/%s" % (tr, kind), params)
        self.assertEqual(st, 202, body)
        return body["job"]["id"]

    def wait_running(self, job_id, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.job(job_id)
            if job["state"] == "running":
                return
            self.assertEqual(job["state"], "queued", job)
            time.sleep(0.05)
        self.fail("job %s did not start" % job_id)

    def wait_done(self, job_id):
        job = self.srv.wait_job(job_id, self.tok)
        self.assertNotIn(job["state"], ("queued", "running"), job)
        return job

    def datasets(self):
        return sorted(d["id"] for d in self.req("GET", "/v1/datasets")[1]["datasets"])

    def test_delete_trainee_cancels_its_jobs(self):
        ds = self.upload("source")
        tr = self.train(ds, "doomed")
        before = self.datasets()
        running = self.submit(tr, "synthesize", BIG_SYNTH)
        self.wait_running(running)
        queued = self.submit(tr, "analyze", {})  # one job per trainee at a time: it waits
        self.assertEqual(self.job(queued)["state"], "queued")
        t0 = time.time()
        st, body, _ = self.req("DELETE", "/v1/trainees/" + tr)
        took = time.time() - t0
        self.assertEqual(st, 200, body)
        self.assertLess(took, 15, "the delete waits a bounded time for running jobs")
        # Before: the synthesis ran on for a minute, "succeeded", and left a dataset and a report
        # about the deleted trainee.
        self.assertEqual(self.job(running)["state"], "cancelled")
        self.assertEqual(self.job(queued)["state"], "cancelled")
        time.sleep(0.5)
        self.assertEqual(self.datasets(), before)
        reports = self.req("GET", "/v1/reports?trainee=" + tr)[1]["reports"]
        self.assertEqual(reports, [])
        self.assertEqual(self.req("GET", "/v1/trainees/" + tr)[0], 404)

    def test_dataset_used_by_trainees(self):
        ds = self.upload("parent")
        tr = self.train(ds, "child")
        st, body, _ = self.req("DELETE", "/v1/datasets/" + ds)
        self.assertEqual(st, 409, body)
        self.assertEqual(body["error"]["code"], "in_use")
        self.assertIn("'child' (%s)" % tr, body["error"]["message"])
        self.assertIn("force=true", body["error"]["message"])
        self.assertEqual(self.req("DELETE", "/v1/datasets/%s?force=yes" % ds)[0], 400)
        self.assertEqual(self.req("GET", "/v1/datasets/" + ds)[0], 200)  # still there
        st, body, _ = self.req("DELETE", "/v1/datasets/%s?force=true" % ds)
        self.assertEqual(st, 200, body)
        # The trainee works on with its own rows and no longer links to a dataset that is gone.
        st, t, _ = self.req("GET", "/v1/trainees/" + tr)
        self.assertEqual((st, t["dataset"], t["state"]), (200, None, "ready"))
        st, body, _ = self.req("POST", "/v1/trainees/%s/predict" % tr,
                               {"targets": ["species"], "rows": [{"island": "Biscoe", "bill_length_mm": 45}]})
        self.assertEqual(st, 200, body)
        self.assertEqual(self.req("DELETE", "/v1/trainees/" + tr)[0], 200)

    @unittest.skipIf(os.environ.get("COHORT_TEST_ROLES"), "keeps the evaluate queued behind a blocker on the "
                     "server's one job thread; under the roles each worker has its own thread")
    def test_dataset_read_by_a_job(self):
        real, synthetic, holdout = self.upload("real"), self.upload("synthetic"), self.upload("holdout")
        blocker_ds = self.upload("blocker")
        blocker = self.train(blocker_ds, "blocker")
        busy = self.submit(blocker, "synthesize", BIG_SYNTH)  # holds the one job thread
        self.wait_running(busy)
        st, body, _ = self.req("POST", "/v1/evaluate", {"real": real, "synthetic": synthetic, "holdout": holdout})
        self.assertEqual(st, 202, body)
        ev = body["job"]["id"]
        for ds in (real, synthetic, holdout):
            for query in ("", "?force=true"):  # force is about trainees; a job reading it always wins
                st, body, _ = self.req("DELETE", "/v1/datasets/" + ds + query)
                self.assertEqual(st, 409, body)
                self.assertEqual(body["error"]["code"], "in_use")
                self.assertIn("%s (evaluate)" % ev, body["error"]["message"])
        self.assertEqual(self.req("POST", "/v1/jobs/%s/cancel" % busy, {})[0], 202)
        self.assertEqual(self.req("POST", "/v1/jobs/%s/cancel" % ev, {})[0], 202)
        self.assertEqual(self.job(ev)["state"], "cancelled")
        for ds in (real, synthetic, holdout):
            self.assertEqual(self.req("DELETE", "/v1/datasets/" + ds)[0], 200)
        self.wait_done(busy)
        self.assertEqual(self.req("DELETE", "/v1/trainees/" + blocker)[0], 200)
        self.assertEqual(self.req("DELETE", "/v1/datasets/" + blocker_ds)[0], 200)

    def test_running_train_holds_its_dataset(self):
        ds = self.upload("training")
        st, body, _ = self.req("POST", "/v1/trainees", {"name": "slow", "dataset": ds})
        self.assertEqual(st, 202, body)
        tr, job = body["trainee"]["id"], body["job"]["id"]
        st, body, _ = self.req("DELETE", "/v1/datasets/%s?force=true" % ds)
        if st == 409:  # the train job was still queued or running
            self.assertIn("%s (train)" % job, body["error"]["message"])
            self.wait_done(job)
            st, body, _ = self.req("DELETE", "/v1/datasets/%s?force=true" % ds)
        else:  # a fast machine may be done already; deleted under a running train it would not be
            self.assertNotIn(self.job(job)["state"], ("queued", "running"))
        self.assertEqual(st, 200, body)
        self.assertEqual(self.req("DELETE", "/v1/trainees/" + tr)[0], 200)


if __name__ == "__main__":
    unittest.main()
