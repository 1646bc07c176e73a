"""Input hardening: predict refuses unknown columns (naming the nearest feature) and reports unseen
categories per row; names refuse NUL, control and bidi characters, are trimmed, and user names
compare without case; a %00 in a URL never truncates a lookup; error bodies never show server
paths."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import CohortServer, ServerTestCase  # noqa: E402

BIN = os.environ.get("COHORT_BIN", os.path.join(ROOT, "build", "cohort"))
PENGUINS = os.path.join(ROOT, "tests", "data", "penguins.csv")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def raw_get(url, path):
    """GET with the path sent byte for byte (urllib would re-quote it): (status, body)."""
    host, port = url[len("http://"):].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


class InputTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        st, ds, _ = cls.srv.request("POST", "/v1/datasets?name=penguins", read(PENGUINS), token=cls.tok)
        assert st == 201, ds
        cls.ds = ds
        cls.ws = ds["workspace"]
        st, body, _ = cls.srv.request("POST", "/v1/trainees", {"name": "penguins", "dataset": ds["id"]}, token=cls.tok)
        assert st == 202, body
        job = cls.srv.wait_job(body["job"]["id"], cls.tok)
        assert job["state"] == "succeeded", job
        cls.tr = body["trainee"]["id"]

    def assertError(self, resp, status, code=None, field=None, contains=None):
        st, body, _ = resp
        self.assertEqual(st, status, body)
        err = body["error"]
        if code:
            self.assertEqual(err["code"], code, err)
        if field is not None:
            self.assertEqual(err.get("field"), field, err)
        if contains:
            self.assertIn(contains, err["message"])
        return err

    # ---------------------------------------------------------------- predict

    def test_predict_unknown_column_names_the_nearest(self):
        path = "/v1/trainees/%s/predict" % self.tr
        self.assertError(self.req("POST", path, {"targets": ["species"],
                                                 "rows": [{"island": "Biscoe", "flipper_lenght_mm": 210}]}),
                         400, "invalid", "rows",
                         "unknown column 'flipper_lenght_mm' (did you mean 'flipper_length_mm'?)")
        err = self.assertError(self.req("POST", path, {"targets": ["species"], "rows": [{"wingspan": 3}]}),
                               400, "invalid", "rows", "unknown column 'wingspan'")
        self.assertNotIn("did you mean", err["message"])
        # A misspelt target or context is a suggestion too.
        self.assertError(self.req("POST", path, {"targets": ["Species"], "rows": [{"island": "Biscoe"}]}), 400,
                         None, "targets", "did you mean 'species'?")
        self.assertError(self.req("POST", path, {"targets": ["species"], "contexts": ["islnd"],
                                                 "rows": [{"island": "Biscoe"}]}), 400, "invalid", "contexts",
                         "did you mean 'island'?")
        # The target's own column and ignored columns are known: not refused.
        st, res, _ = self.req("POST", path, {"targets": ["species"], "rows": [{"species": "x", "island": "Biscoe"}]})
        self.assertEqual(st, 200, res)

    def test_predict_reports_unseen_levels_per_row(self):
        path = "/v1/trainees/%s/predict" % self.tr
        rows = [{"island": "Biscoe", "flipper_length_mm": 215},
                {"island": "Mars", "sex": "unknown", "flipper_length_mm": 215},
                {"island": None, "flipper_length_mm": 190}]
        st, res, _ = self.req("POST", path, {"targets": ["species"], "rows": rows})
        self.assertEqual(st, 200, res)
        preds = res["predictions"]
        self.assertNotIn("unknown", preds[0])
        self.assertEqual(sorted(preds[1]["unknown"], key=lambda u: u["column"]),
                         [{"column": "island", "value": "Mars"}, {"column": "sex", "value": "unknown"}])
        self.assertNotIn("unknown", preds[2])  # missing is not unseen
        # A target's own column is no context: an unseen value there is not reported.
        st, res, _ = self.req("POST", path, {"targets": ["island"], "rows": [{"island": "Mars", "species": "Gentoo"}]})
        self.assertEqual(st, 200, res)
        self.assertNotIn("unknown", res["predictions"][0])

    # ---------------------------------------------------------------- names

    def test_names_refuse_control_and_bidi_characters(self):
        bad = ["a\u202eb", "a\u200fb", "a\u2066b", "a\u0085b", "a\u007fb", "a\nb", "   ", "\u200e"]
        for name in bad:
            self.assertError(self.req("POST", "/v1/workspaces", {"name": name}), 400, "invalid", "name")
            self.assertError(self.req("POST", "/v1/tokens", {"name": name}), 400, "invalid", "name")
            self.assertError(self.req("POST", "/v1/trainees", {"name": name, "dataset": self.ds["id"], "workspace": self.ws}), 400,
                             "invalid", "name")
            self.assertError(self.req("POST", "/v1/users", {"name": name, "password": "a-long-password-1"}), 400,
                             "invalid", "name")
        self.assertError(self.req("POST", "/v1/workspaces", {"name": "a\u0000b"}), 400, "invalid_json")
        err = self.assertError(self.req("POST", "/v1/workspaces", {"name": "x\u202ey"}), 400, "invalid", "name")
        self.assertIn("bidirectional", err["message"])
        # Names are trimmed.
        st, ws, _ = self.req("POST", "/v1/workspaces", {"name": "  team  "})
        self.assertEqual((st, ws["name"]), (201, "team"), ws)
        st, t, _ = self.req("POST", "/v1/tokens", {"name": "\tci "})
        self.assertEqual((st, t["name"]), (201, "ci"), t)

    def test_nul_in_a_url_never_truncates(self):
        # A dataset name with %00 is refused, not cut to "a".
        self.assertError(self.req("POST", "/v1/datasets?workspace=%s&name=a%%00b" % self.ws, read(PENGUINS)), 400, "invalid", "name")
        self.assertError(self.req("POST", "/v1/datasets?workspace=%s&name=a%%E2%%80%%AEb" % self.ws, read(PENGUINS)), 400, "invalid", "name")
        st, ds, _ = self.req("POST", "/v1/datasets?workspace=%s&name=%%20spaced%%20" % self.ws, read(PENGUINS))
        self.assertEqual((st, ds["name"]), (201, "spaced"), ds)
        # In the path: a 400, never a lookup of what comes before the NUL.
        st, body = raw_get(self.srv.url, "/ui/app.js")
        self.assertEqual(st, 200)
        for path in ("/ui/app.js%00.png", "/ui/app.js%00", "/v1/datasets/%s%%00x" % ds["id"], "/healthz%00"):
            st, body = raw_get(self.srv.url, path)
            self.assertEqual(st, 400, (path, body[:200]))
            self.assertIn(b'"field":"path"', body)
        # A CSV column name is checked the same way (kept as given, not trimmed).
        self.assertError(self.req("POST", "/v1/datasets?name=x&workspace=" + self.ws, "a,b\u202ec\n1,2\n".encode()), 400, "invalid_csv",
                         "body", "column 2's name: bidirectional")

    def test_user_names_ignore_case(self):
        st, u, _ = self.req("POST", "/v1/users", {"name": "Quinn", "password": "quinn-password-1"})
        self.assertEqual(st, 201, u)
        for look_alike in ("ADMIN", "Admin", " admin", "quinn", "QUINN "):
            err = self.assertError(self.req("POST", "/v1/users", {"name": look_alike, "password": "a-long-password-1"}),
                                   409, "conflict", "name")
            self.assertIn("exists already", err["message"])
        # Sign-in finds the account whatever the case, as the look-up for members does.
        opener, csrf = self.srv.login("QUINN", "quinn-password-1")
        st, me, _ = self.srv.request("GET", "/v1/me", opener=opener)
        self.assertEqual((st, me["name"]), (200, "Quinn"), me)


@unittest.skipIf(os.environ.get("COHORT_TEST_CLUSTER"), "damages objects in the data folder (the embedded blobs)")
class ServerPathsTest(unittest.TestCase):
    """Errors a client reads (replies and job errors) name resources, never the server's files.
    Before: 'trainee file '/tmp/.../blobs/trainees/tr_x/v1-....cohort': truncated at byte 100' and
    '/tmp/.../blobs/datasets/ds_x.csv: read error: Is a directory'."""

    def assertNoServerPath(self, text, data_dir, where):
        self.assertNotIn(data_dir, text, where)
        self.assertNotIn(os.path.realpath(data_dir), text, where)
        self.assertIsNone(re.search(r"(?<![\w:/])/(?!v1/|ui/)[\w.-]+/[\w./-]+", text), where + ": " + text)

    def test_errors_name_resources_not_server_paths(self):
        data = tempfile.mkdtemp(prefix="cohort-paths-")
        srv = CohortServer(BIN, data_dir=data)
        try:
            srv.start()
            tok = srv.token()
            st, ds, _ = srv.request("POST", "/v1/datasets?name=p", read(PENGUINS), token=tok)
            st, body, _ = srv.request("POST", "/v1/trainees", {"name": "t", "dataset": ds["id"]}, token=tok)
            self.assertEqual(srv.wait_job(body["job"]["id"], tok)["state"], "succeeded")
            tr = body["trainee"]["id"]
            srv.stop()
            # A truncated trainee file, read after a restart; a dataset blob that became a folder.
            folder = os.path.join(data, "blobs", "trainees", tr)
            for f in os.listdir(folder):
                with open(os.path.join(folder, f), "r+b") as fh:
                    fh.truncate(100)
            blob = os.path.join(data, "blobs", "datasets", ds["id"] + ".csv")
            os.remove(blob)
            os.mkdir(blob)
            srv.start()
            tok = srv.token()
            texts = []
            st, res, _ = srv.request("POST", "/v1/trainees/%s/predict" % tr,
                                     {"targets": ["species"], "rows": [{"island": "Biscoe"}]}, token=tok)
            self.assertGreaterEqual(st, 400, res)
            texts.append(("predict", res["error"]["message"], tr))
            st, body, _ = srv.request("POST", "/v1/trainees/%s/analyze" % tr, {}, token=tok)
            job = srv.wait_job(body["job"]["id"], tok)
            texts.append(("analyze job", job["error"], tr))
            st, res, _ = srv.request("GET", "/v1/datasets/%s/preview" % ds["id"], token=tok)
            self.assertGreaterEqual(st, 400, res)
            texts.append(("preview", res["error"]["message"], ds["id"]))
            st, body, _ = srv.request("POST", "/v1/trainees", {"name": "t2", "dataset": ds["id"]}, token=tok)
            job = srv.wait_job(body["job"]["id"], tok)
            texts.append(("train job", job["error"], ds["id"]))
            for where, text, rid in texts:
                self.assertTrue(text, where)
                self.assertIn(rid, text, where)  # the resource, by its id
                self.assertNoServerPath(text, data, where)
            # The operator's log keeps the whole path.
            self.assertTrue(any(data in line for line in srv.log_lines))
        finally:
            srv.cleanup()
            shutil.rmtree(data, ignore_errors=True)


class SecretFlagsTest(unittest.TestCase):
    """Secrets never come from command-line flags (ps shows them to every local user)."""

    def run_cohort(self, *args, env=None):
        full = dict(os.environ)
        full.pop("COHORT_ADMIN_PASSWORD", None)
        full.update(env or {})
        return subprocess.run([BIN] + list(args), env=full, capture_output=True, text=True, timeout=30)

    def test_secret_flags_are_refused_with_the_alternative(self):
        data = tempfile.mkdtemp(prefix="cohort-flags-")
        try:
            for args in (["--admin_password", "long-enough-1"], ["--admin_password=long-enough-1"]):
                p = self.run_cohort("serve", "--data_dir", data, *args)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn("--admin_password_file", p.stderr)
                self.assertNotIn("long-enough-1", p.stderr)
            for key, url in (("store", "postgres://cohort:s3cret@db:5432/cohort"),
                             ("store", "postgres://cohort@db/cohort?sslmode=require&password=s3cret"),
                             ("bus_redis", "redis://:s3cret@127.0.0.1:6379"),
                             ("bus", "nats://user:s3cret@127.0.0.1:4222")):
                p = self.run_cohort("serve", "--data_dir", data, "--" + key, url)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn("COHORT_" + key.upper(), p.stderr)
                self.assertNotIn("s3cret", p.stderr)
            p = self.run_cohort("admin", "migrate", "--to-store", "postgres://u:s3cret@db/x", "--to-blobs", data)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertNotIn("s3cret", p.stderr)
            p = self.run_cohort("serve", "--help")
            self.assertIn("Secrets never come from flags", p.stdout)
            # The file, the environment and the config file still work.
            pw = os.path.join(data, "pw")
            with open(pw, "w") as f:
                f.write("long-enough-1\n")
            for extra, env in ((["--admin_password_file", pw], None), ([], {"COHORT_ADMIN_PASSWORD": "long-enough-1"})):
                with CohortServer(BIN, extra_args=extra, env=env) as srv:
                    srv.admin_password = "long-enough-1"
                    srv.token()
        finally:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
