"""The client verbs of the cohort binary against a real `cohort serve`: login with a saved token,
tokens, workspaces, datasets, trainees (create --wait, predict from a CSV, anomalies, synthesize
-o), jobs, reports, --json output, usage errors (exit 2), not found (exit 3), a server that is down
(exit 1), and logout (the token stops working). Standard library only.

Run: COHORT_BIN=build/cohort python3 -m unittest discover -s tests/server -p 'test_cli.py' -v
"""
import csv
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import CohortServer, settle  # noqa: E402

BIN = os.environ.get("COHORT_BIN", os.path.join(ROOT, "build", "cohort"))
PENGUINS = os.path.join(ROOT, "tests", "data", "penguins.csv")
SPECIES = {"Adelie", "Gentoo", "Chinstrap"}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def load(path):
    with open(path) as f:
        return json.load(f)


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="cohort-cli-")
        cls.cfg = os.path.join(cls.tmp, "config")
        cls.srv = CohortServer(BIN).start()
        try:
            r = cls.run_cli(["login", "--user", "admin", "--password-stdin"], input=cls.srv.admin_password + "\n")
            assert r.returncode == 0, r.stderr
            r = cls.run_cli(["dataset", "upload", PENGUINS, "--name", "penguins", "--json"])
            assert r.returncode == 0, r.stderr
            cls.ds = json.loads(r.stdout)
            r = cls.run_cli(["trainee", "create", "--dataset", cls.ds["id"], "--name", "penguins", "--wait",
                             "--json"])
            assert r.returncode == 0, r.stderr
            cls.train_job = json.loads(r.stdout)
            cls.tr = cls.train_job["trainee"]
        except BaseException:
            cls.srv.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.srv.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert rc == 0, "server exited with %s:\n%s" % (rc, "\n".join(cls.srv.log_lines[-30:]))

    @classmethod
    def run_cli(cls, args, input=None, cfg=None, env=None, timeout=180):
        e = dict(os.environ)
        for k in ("COHORT_TOKEN", "COHORT_URL", "COHORT_CONFIG_DIR", "XDG_CONFIG_HOME"):
            e.pop(k, None)
        e["COHORT_CONFIG_DIR"] = cfg or cls.cfg
        e["COHORT_URL"] = cls.srv.url
        e.update(env or {})
        return subprocess.run([BIN] + list(args), input=input if input is not None else "", env=e,
                              capture_output=True, text=True, timeout=timeout)

    def cli(self, *args, **kw):
        """Runs the binary and expects success."""
        r = self.run_cli(args, **kw)
        self.assertEqual(r.returncode, 0, "cohort %s\nstdout: %s\nstderr: %s" % (" ".join(args), r.stdout, r.stderr))
        return r

    def cli_json(self, *args, **kw):
        return json.loads(self.cli(*(args + ("--json",)), **kw).stdout)

    def assertFails(self, args, rc, *needles, **kw):
        r = self.run_cli(args, **kw)
        self.assertEqual(r.returncode, rc, "cohort %s\nstdout: %s\nstderr: %s" % (" ".join(args), r.stdout, r.stderr))
        for n in needles:
            self.assertIn(n, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)  # one readable line
        return r

    # ---------------------------------------------------------------- sign-in and tokens

    def test_login_saved_and_wrong_password(self):
        path = os.path.join(self.cfg, "credentials.json")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        creds = load(path)
        self.assertEqual(creds["server"], self.srv.url)
        self.assertEqual(creds["user"], "admin")
        self.assertTrue(creds["token"].startswith("cohort_"))
        other = os.path.join(self.tmp, "wrong")
        r = self.assertFails(["login", "--user", "admin", "--password-stdin"], 1, "401",
                             "wrong user name or password", input="not-the-password\n", cfg=other)
        self.assertTrue(r.stderr.startswith("cohort login: "), r.stderr)
        self.assertFalse(os.path.exists(os.path.join(other, "credentials.json")))
        # No password on a pipe without --password-stdin, and none from argv.
        self.assertFails(["login", "--user", "admin"], 2, "password-stdin", cfg=other)
        self.assertFails(["login", "--user", "admin", "--password", "x"], 2, "--password", cfg=other)

    def test_whoami(self):
        r = self.cli("whoami")
        self.assertIn("admin", r.stdout)
        self.assertIn(self.srv.url, r.stdout)
        me = self.cli_json("whoami")
        self.assertEqual(me["name"], "admin")
        self.assertTrue(me["admin"])
        self.assertEqual(me["workspaces"][0]["role"], "owner")
        ws = self.cli_json("workspace", "list")["workspaces"]
        self.assertEqual(len(ws), 1)

    def test_tokens(self):
        r = self.cli("token", "create", "ci-test")
        secret = r.stdout.strip()
        self.assertTrue(secret.startswith("cohort_"), r.stdout)
        # The new token works on its own, with no saved login.
        empty = os.path.join(self.tmp, "empty")
        me = self.cli_json("whoami", cfg=empty, env={"COHORT_TOKEN": secret})
        self.assertEqual(me["name"], "admin")
        tokens = self.cli_json("token", "list")["tokens"]
        tok = [t for t in tokens if t["name"] == "ci-test"]
        self.assertEqual(len(tok), 1)
        self.assertNotIn("token", tok[0])
        self.assertIn("ci-test", self.cli("token", "list").stdout)
        self.cli("token", "revoke", tok[0]["id"])
        settle()
        self.assertFails(["whoami"], 1, "401", cfg=empty, env={"COHORT_TOKEN": secret})
        self.assertFails(["token", "revoke", tok[0]["id"]], 3, "not found")

    def test_logout(self):
        cfg = os.path.join(self.tmp, "logout")
        self.cli("login", "--user", "admin", "--password-stdin", input=self.srv.admin_password + "\n", cfg=cfg)
        path = os.path.join(cfg, "credentials.json")
        secret = load(path)["token"]
        self.cli("whoami", cfg=cfg)
        r = self.cli("logout", cfg=cfg)
        self.assertIn("revoked", r.stdout)
        self.assertFalse(os.path.exists(path))
        self.assertFails(["whoami"], 1, "401", cfg=cfg)
        self.assertFails(["whoami"], 1, "401", cfg=cfg, env={"COHORT_TOKEN": secret})
        self.cli("logout", cfg=cfg)  # signed out already: nothing to do

    # ---------------------------------------------------------------- datasets

    def test_dataset_verbs(self):
        self.assertEqual((self.ds["rows"], self.ds["columns"]), (344, 7))
        r = self.cli("dataset", "list")
        self.assertIn(self.ds["id"], r.stdout)
        self.assertIn("344", r.stdout)
        lst = self.cli_json("dataset", "list")
        self.assertIn(self.ds["id"], [d["id"] for d in lst["datasets"]])
        r = self.cli("dataset", "show", self.ds["id"])
        self.assertIn("flipper_length_mm", r.stdout)
        self.assertIn("continuous", r.stdout)
        self.assertIn("Adelie", r.stdout)
        shown = self.cli_json("dataset", "show", self.ds["id"])
        self.assertEqual(len(shown["schema"]), 7)
        r = self.cli("dataset", "preview", self.ds["id"], "--rows", "3")
        lines = r.stdout.strip().splitlines()
        self.assertEqual(len(lines), 2 + 3)
        self.assertIn("species", lines[0])
        pv = self.cli_json("dataset", "preview", self.ds["id"], "--rows", "3", "--offset", "2")
        self.assertEqual(len(pv["rows"]), 3)
        self.assertIsNone(pv["rows"][1][2])
        out = os.path.join(self.tmp, "download.csv")
        self.cli("dataset", "download", self.ds["id"], "-o", out)
        self.assertEqual(read(out), read(PENGUINS))
        # Upload, delete, and the deleted one is not found.
        small = os.path.join(self.tmp, "small.csv")
        with open(small, "w") as f:
            f.write("a,b\n1,x\n2,y\n")
        d = self.cli_json("dataset", "upload", small)
        self.assertEqual((d["name"], d["rows"]), ("small", 2))
        self.cli("dataset", "delete", d["id"])
        self.assertFails(["dataset", "show", d["id"]], 3, "not found")

    def test_dataset_malformed(self):
        bad = os.path.join(self.tmp, "bad.csv")
        with open(bad, "w") as f:
            f.write('a,b\n1,"unterminated\n')
        self.assertFails(["dataset", "upload", bad], 1, "cohort dataset upload: 400 invalid_csv (field body):",
                             "unterminated")
        with open(bad, "w") as f:
            f.write("a,b\n1,2,3\n")
        self.assertFails(["dataset", "upload", bad], 1, "400", "line")
        self.assertFails(["dataset", "upload", os.path.join(self.tmp, "missing.csv")], 1, "missing.csv")

    # ---------------------------------------------------------------- trainees

    def test_trainee_show_list(self):
        self.assertEqual(self.train_job["state"], "succeeded")
        self.assertEqual(self.train_job["kind"], "train")
        r = self.cli("trainee", "show", self.tr)
        self.assertIn("344", r.stdout)
        self.assertIn("ready:       yes", r.stdout)
        t = self.cli_json("trainee", "show", self.tr)
        self.assertTrue(t["ready"])
        self.assertIn(self.tr, [x["id"] for x in self.cli_json("trainee", "list")["trainees"]])

    def test_predict_from_csv(self):
        # The rows without their species, predicted back.
        rows = os.path.join(self.tmp, "rows.csv")
        with open(PENGUINS, newline="") as f:
            data = list(csv.DictReader(f))
        truth = [row["species"] for row in data]
        with open(rows, "w", newline="") as f:
            w = csv.writer(f)
            cols = [c for c in data[0].keys() if c != "species"]
            w.writerow(cols)
            for row in data:
                w.writerow([row[c] for c in cols])
        out = os.path.join(self.tmp, "predicted.csv")
        self.cli("trainee", "predict", self.tr, "--target", "species", rows, "-o", out)
        with open(out, newline="") as f:
            got = list(csv.DictReader(f))
        self.assertEqual(len(got), len(truth))
        self.assertIn("species_uncertainty", got[0])
        self.assertIn("species_probability", got[0])
        self.assertTrue({g["species_predicted"] for g in got} <= SPECIES)
        right = sum(g["species_predicted"] == t for g, t in zip(got, truth))
        self.assertGreater(right / len(truth), 0.9, right)
        # The table and --json forms, on a few rows (small batches: several requests).
        few = os.path.join(self.tmp, "few.csv")
        with open(few, "w") as f:
            f.write("island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex\n"
                    "Biscoe,47.5,15,218,5000,male\nTorgersen,38.9,18.8,190,3600,NA\nDream,49,18.5,196,,female\n")
        r = self.cli("trainee", "predict", self.tr, "-t", "species", few)
        self.assertIn("Gentoo", r.stdout)
        self.assertIn("uncertainty", r.stdout)
        doc = self.cli_json("trainee", "predict", self.tr, "-t", "species", few, "--batch", "2")
        preds = [p["values"]["species"] for p in doc["predictions"]]
        self.assertEqual(preds[:2], ["Gentoo", "Adelie"])
        self.assertEqual(len(preds), 3)
        # A continuous target from a subset of features.
        doc = self.cli_json("trainee", "predict", self.tr, "-t", "body_mass_g", "-c", "island,sex", few)
        self.assertTrue(3000 < float(doc["predictions"][0]["values"]["body_mass_g"]) < 7000)
        self.assertFails(["trainee", "predict", self.tr, "-t", "nope", few], 1, "400", "(field targets)")

    def test_anomalies(self):
        r = self.cli("trainee", "anomalies", self.tr, "--top", "5")
        self.assertEqual(len(r.stdout.strip().splitlines()), 2 + 5)
        self.assertIn("conviction", r.stdout)
        doc = self.cli_json("trainee", "anomalies", self.tr, "--top", "5")
        conv = [c["conviction"] for c in doc["cases"]]
        self.assertEqual(conv, sorted(conv))
        self.assertEqual(doc["scored"], 344)
        few = os.path.join(self.tmp, "anom.csv")
        with open(few, "w") as f:
            f.write("species,island,bill_length_mm,flipper_length_mm\nAdelie,Torgersen,39,185\n"
                    "Adelie,Torgersen,90,400\n")
        doc = self.cli_json("trainee", "anomalies", self.tr, few)
        self.assertEqual([x["row"] for x in doc["rows"]], [0, 1])
        self.assertGreater(doc["rows"][0]["conviction"], doc["rows"][1]["conviction"])

    def test_synthesize_jobs_reports(self):
        out = os.path.join(self.tmp, "synth.csv")
        r = self.cli("trainee", "synthesize", self.tr, "--rows", "150", "--privacy", "local", "--seed", "3",
                     "-o", out)
        self.assertIn("Synthesized 150 rows", r.stdout)
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 150)
        self.assertTrue({row["species"] for row in rows} <= SPECIES)
        # Jobs.
        jobs = self.cli_json("job", "list")["jobs"]
        synth = [j for j in jobs if j["kind"] == "synthesize"]
        self.assertTrue(synth)
        job = synth[0]
        self.assertEqual(job["state"], "succeeded")
        self.assertIn(job["id"], self.cli("job", "list").stdout)
        self.assertEqual(self.cli_json("job", "list", "--state", "succeeded")["jobs"][0]["state"], "succeeded")
        self.assertFails(["job", "list", "--state", "nope"], 1, "400", "(field state)")
        r = self.cli("job", "show", job["id"])
        self.assertIn("synthesize", r.stdout)
        self.assertIn("succeeded", r.stdout)
        self.assertEqual(self.cli_json("job", "show", job["id"])["id"], job["id"])
        r = self.cli("job", "wait", job["id"])
        self.assertIn("succeeded", r.stdout)
        self.assertEqual(self.cli_json("job", "wait", job["id"])["state"], "succeeded")
        # Reports.
        rep_id = job["result"]["report"]
        self.assertIn(rep_id, self.cli("report", "list").stdout)
        self.assertIn(rep_id, [x["id"] for x in self.cli_json("report", "list", "--trainee", self.tr)["reports"]])
        r = self.cli("report", "show", rep_id)
        self.assertIn("quality", r.stdout)
        rep = self.cli_json("report", "show", rep_id)
        self.assertTrue(0.5 < rep["summary"]["quality"] <= 1.0)
        self.assertIsNotNone(rep["evaluation"])
        html = os.path.join(self.tmp, "report.html")
        self.cli("report", "html", rep_id, "-o", html)
        self.assertIn(b"<svg", read(html))
        # A job that fails: exit 1 with the job's error.
        self.assertFails(["trainee", "create", "--dataset", self.ds["id"], "--name", "bad", "--type", "nope=nominal",
                          "--wait"], 1, "failed", "features.nope")

    def test_export_import(self):
        out = os.path.join(self.tmp, "t.cohort")
        self.cli("trainee", "export", self.tr, "-o", out)
        self.assertGreater(os.path.getsize(out), 1000)
        imp = self.cli_json("trainee", "import", out, "--name", "copy")
        self.assertEqual(imp["name"], "copy")
        self.cli("trainee", "delete", imp["id"])
        self.assertFails(["trainee", "show", imp["id"]], 3, "not found")

    # ---------------------------------------------------------------- errors

    def test_usage_errors(self):
        for args in (["dataset"], ["dataset", "bogus"], ["dataset", "upload"], ["dataset", "list", "--bogus"],
                     ["trainee", "predict", "tr_x", "rows.csv"], ["trainee", "create", "--name", "x"],
                     ["dataset", "preview", "ds_x", "--rows", "abc"], ["dataset", "download", "ds_x"],
                     ["trainee", "synthesize", "tr_x", "--privacy", "none"], ["nonsense"]):
            r = self.run_cli(args)
            self.assertEqual(r.returncode, 2, "%s: %s" % (args, r.stderr))
            self.assertTrue(r.stderr.startswith(("cohort", "Usage: cohort")), r.stderr)
        r = self.cli("dataset", "upload", "--help")
        self.assertIn("Usage: cohort dataset upload", r.stdout)
        self.assertIn("--workspace", r.stdout)
        self.assertIn("upload", self.cli("help", "dataset").stdout)

    def test_not_found(self):
        self.assertFails(["dataset", "show", "ds_nope"], 3, "cohort dataset show: 404 not_found", "not found")
        self.assertFails(["trainee", "show", "tr_nope"], 3, "not found")
        self.assertFails(["job", "wait", "job_nope"], 3, "not found")
        self.assertFails(["report", "html", "rep_nope", "-o", os.path.join(self.tmp, "x.html")], 3, "not found")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x.html")))

    def test_url_too_long(self):
        long_id = "a" * 5000
        for verb in (["dataset", "show"], ["job", "cancel"], ["trainee", "show"]):
            self.assertFails(verb + [long_id], 1, "cohort %s: the request's URL is too long" % " ".join(verb))

    def test_server_down(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        url = "http://127.0.0.1:%d" % port
        self.assertFails(["dataset", "list"], 1, "cannot connect to " + url, env={"COHORT_URL": url})
        self.assertFails(["whoami", "--server", url], 1, "cannot connect")

if __name__ == "__main__":
    unittest.main()
