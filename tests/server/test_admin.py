"""`cohort admin migrate`: an installation copied into another store and blob store serves the same
users, tokens, datasets, trainees and reports (a real server before and after)."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import ADMIN_PASSWORD, CohortServer  # noqa: E402

BIN = os.environ.get("COHORT_BIN", os.path.join(ROOT, "build", "cohort"))
PENGUINS = os.path.join(ROOT, "tests", "data", "penguins.csv")
ROW = {"island": "Dream", "bill_length_mm": 49, "bill_depth_mm": 18.5, "flipper_length_mm": 196}


def admin(*args):
    env = dict(os.environ, COHORT_ADMIN_PASSWORD=ADMIN_PASSWORD)
    return subprocess.run([BIN, "admin"] + list(args), env=env, capture_output=True, text=True, timeout=120)


class MigrateTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cohort-migrate-")
        self.src_dir = os.path.join(self.tmp, "src")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_migrate_round_trip(self):
        src = CohortServer(BIN, data_dir=self.src_dir).start()
        try:
            tok = src.token()
            with open(PENGUINS, "rb") as f:
                st, ds, _ = src.request("POST", "/v1/datasets?name=penguins", f.read(), token=tok)
            self.assertEqual(st, 201, ds)
            st, body, _ = src.request("POST", "/v1/trainees", {"name": "p", "dataset": ds["id"]}, token=tok)
            self.assertEqual(st, 202, body)
            self.assertEqual(src.wait_job(body["job"]["id"], tok)["state"], "succeeded")
            tr = body["trainee"]["id"]
            st, job, _ = src.request("POST", "/v1/trainees/%s/synthesize" % tr, {"rows": 50}, token=tok)
            self.assertEqual(src.wait_job(job["job"]["id"], tok)["state"], "succeeded")
            before = {p: src.request("GET", p, token=tok)[1] for p in ("/v1/datasets", "/v1/trainees", "/v1/reports")}
            pred = src.request("POST", "/v1/trainees/%s/predict" % tr, {"targets": ["species"], "rows": [ROW]},
                               token=tok)[1]
            # The command refuses while the server holds the data folder.
            res = admin("migrate", "--data_dir", self.src_dir, "--to-store", "sqlite:" + self.tmp + "/x.db",
                        "--to-blobs", self.tmp + "/x")
            self.assertEqual(res.returncode, 1, res)
            self.assertIn("in use by another cohort process", res.stderr)
        finally:
            src.stop()
        dest_db, dest_blobs = os.path.join(self.tmp, "dest.db"), os.path.join(self.tmp, "dest-blobs")
        res = admin("migrate", "--data_dir", self.src_dir, "--to-store", "sqlite:" + dest_db, "--to-blobs",
                    dest_blobs)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertRegex(res.stdout, r"migrated 1 users, 1 workspaces, 1 memberships, 1 API tokens, 2 datasets, "
                                     r"1 trainees, 1 reports; 5 objects")
        # Only into an empty destination.
        res = admin("migrate", "--data_dir", self.src_dir, "--to-store", "sqlite:" + dest_db, "--to-blobs",
                    dest_blobs)
        self.assertEqual(res.returncode, 1)
        self.assertIn("has 1 users already", res.stderr)
        dest = CohortServer(BIN, data_dir=os.path.join(self.tmp, "dest-dir"),
                            extra_args=["--store", "sqlite:" + dest_db, "--blobs", dest_blobs]).start()
        try:
            for p, want in before.items():  # the same records, and the old token still signs in
                st, got, _ = dest.request("GET", p, token=tok)
                self.assertEqual(st, 200, got)
                self.assertEqual(got, want, p)
            st, again, _ = dest.request("POST", "/v1/trainees/%s/predict" % tr, {"targets": ["species"],
                                                                                  "rows": [ROW]}, token=tok)
            self.assertEqual(st, 200, again)
            self.assertEqual(again["predictions"], pred["predictions"])
            rep = before["/v1/reports"]["reports"][0]["id"]
            st, html, _ = dest.request("GET", "/v1/reports/%s/html" % rep, token=tok, raw=True)
            self.assertEqual(st, 200)
            self.assertIn(b"<html", html[:200].lower())
            dest.login()  # the administrator's password hash came along
        finally:
            self.assertEqual(dest.stop(), 0)
            dest.cleanup()

    def test_usage_errors(self):
        os.makedirs(self.src_dir)
        res = admin("migrate", "--data_dir", self.src_dir)
        self.assertEqual(res.returncode, 2)
        self.assertIn("--to-store and --to-blobs are required", res.stderr)
        res = admin("migrate", "--data_dir", self.src_dir, "--to-store", "mysql://x", "--to-blobs", self.tmp)
        self.assertEqual(res.returncode, 1)
        self.assertIn("store: 'mysql:' names no backend", res.stderr)
        res = admin("frobnicate")
        self.assertEqual(res.returncode, 2)


if __name__ == "__main__":
    unittest.main()
