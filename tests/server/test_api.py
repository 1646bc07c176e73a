"""End-to-end tests of `cohort serve` over HTTP: sign-in, datasets, trainees, jobs, reports,
errors, limits, metrics, and durability across restarts (a real server, standard library only).

Run: COHORT_BIN=build/cohort python3 -m unittest discover -s tests/server -p 'test_*.py'
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import CohortServer, settle, ServerTestCase  # noqa: E402

JSON = {"Content-Type": "application/json"}
BIN = os.environ.get("COHORT_BIN", os.path.join(ROOT, "build", "cohort"))
PENGUINS = os.path.join(ROOT, "tests", "data", "penguins.csv")
SPECIES = {"Adelie", "Gentoo", "Chinstrap"}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def parse_metrics(text):
    """Prometheus text format -> {(name, sorted label pairs): value}; fails on a line that does not parse."""
    import re
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
    label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        mt = sample.match(line)
        assert mt, "not a metric line: %r" % line
        name, labels, value = mt.groups()
        pairs = tuple(sorted(label.findall(labels or "")))
        assert len(pairs) == (labels.count('="') if labels else 0), "bad labels: %r" % line
        base = re.sub(r"_(bucket|count|sum|total)$", "", name)
        assert name in typed or base in typed, "no TYPE line for %s" % name
        out[(name, pairs)] = float(value)
    return out


class ApiTest(ServerTestCase):
    SERVER_ARGS = ("--max_body_mb", "1", "--max_upload_mb", "2")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        st, ds, _ = cls.srv.request("POST", "/v1/datasets?name=penguins", read(PENGUINS), token=cls.tok)
        assert st == 201, ds
        cls.ds = ds
        st, body, _ = cls.srv.request("POST", "/v1/trainees", {"name": "penguins", "dataset": ds["id"]}, token=cls.tok)
        assert st == 202, body
        job = cls.srv.wait_job(body["job"]["id"], cls.tok)
        assert job["state"] == "succeeded", job
        cls.tr = body["trainee"]["id"]

    def assertError(self, resp, status, code=None, field=None):
        st, body, _ = resp
        self.assertEqual(st, status, body)
        self.assertIsInstance(body, dict, body)
        err = body["error"]
        self.assertIsInstance(err["message"], str)
        self.assertTrue(err["message"])
        if code:
            self.assertEqual(err["code"], code, err)
        if field is not None:
            self.assertEqual(err["field"], field, err)

    # ---------------------------------------------------------------- operations

    def test_health_ready_metrics(self):
        st, body, _ = self.req("GET", "/healthz", token=None)
        self.assertEqual((st, body), (200, {"status": "ok"}))
        st, body, _ = self.req("GET", "/readyz", token=None)
        self.assertEqual(st, 200)
        st, text, hdrs = self.req("GET", "/metrics", token=None)
        self.assertEqual(st, 200)
        m = parse_metrics(text.decode())
        self.assertGreaterEqual(m[("cohort_http_requests_total", (("method", "GET"), ("route", "/healthz"),
                                                                  ("status", "200")))], 1)
        self.assertGreaterEqual(m[("cohort_jobs", (("state", "succeeded"),))], 1)  # setUpClass trained one
        self.assertGreaterEqual(m[("cohort_trainees_loaded", ())], 0)
        self.assertGreater(m[("process_resident_memory_bytes", ())], 1 << 20)
        # Every histogram: cumulative buckets that end at +Inf with the count.
        hists = {k[1] for k in m if k[0] == "cohort_http_request_duration_seconds_count"}
        self.assertTrue(hists)
        for labels in hists:
            buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in m.items()
                              if k[0] == "cohort_http_request_duration_seconds_bucket"
                              and tuple(x for x in k[1] if x[0] != "le") == labels), key=lambda b: b[0])
            self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets), labels)
            self.assertEqual(buckets[-1], (float("inf"), m[("cohort_http_request_duration_seconds_count", labels)]))

    def test_request_id_and_keep_alive(self):
        conn = http.client.HTTPConnection(self.srv.url[7:].split(":")[0], int(self.srv.url.rsplit(":", 1)[1]))
        for _ in range(3):  # three requests on one connection
            conn.request("GET", "/v1/me", headers={"Authorization": "Bearer " + self.tok, "X-Request-Id": "abc-123"})
            resp = conn.getresponse()
            resp.read()
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.getheader("X-Request-Id"), "abc-123")
            self.assertNotEqual((resp.getheader("Connection") or "").lower(), "close")
        conn.close()
        # The request's log line is written after its reply: wait for the reader to see it.
        deadline = time.time() + 10
        while not any('"rid":"abc-123"' in line for line in list(self.srv.log_lines)):
            self.assertLess(time.time(), deadline, "no log line with the request id")
            time.sleep(0.02)

    # ---------------------------------------------------------------- sign-in

    def test_login_and_csrf(self):
        self.assertError(self.req("POST", "/v1/auth/login", {"username": "admin", "password": "wrong-password"},
                                  token=None), 401, "unauthenticated", "password")
        self.assertError(self.req("POST", "/v1/auth/login", {"username": "nobody", "password": "x" * 10},
                                  token=None), 401, "unauthenticated")
        self.assertError(self.req("POST", "/v1/auth/login", {"username": "admin"}, token=None), 400, "invalid",
                         "password")
        self.assertError(self.req("GET", "/v1/me", token=None), 401, "unauthenticated")
        self.assertError(self.req("GET", "/v1/me", token="cohort_" + "0" * 48), 401, "unauthenticated")
        self.assertError(self.req("GET", "/v1/me", headers={"Authorization": "Basic Zm9vOmJhcg=="}, token=None),
                         401, "unauthenticated", "Authorization")
        opener, csrf = self.srv.login()
        st, me, _ = self.req("GET", "/v1/me", opener=opener, token=None)
        self.assertEqual(st, 200)
        self.assertEqual(me["name"], "admin")
        self.assertEqual(me["csrf_token"], csrf)
        self.assertEqual(me["workspaces"][0]["role"], "owner")
        # A session must echo its CSRF token on anything that changes state.
        self.assertError(self.req("POST", "/v1/tokens", {"name": "x"}, opener=opener, token=None), 403, "csrf")
        self.assertError(self.req("POST", "/v1/tokens", {"name": "x"}, opener=opener, token=None,
                                  headers={"X-CSRF-Token": "0" * 48}), 403, "csrf")
        st, tok, _ = self.req("POST", "/v1/tokens", {"name": "x"}, opener=opener, token=None,
                              headers={"X-CSRF-Token": csrf})
        self.assertEqual(st, 201, tok)
        self.assertTrue(tok["token"].startswith("cohort_"))
        st, me2, _ = self.req("GET", "/v1/me", token=tok["token"])
        self.assertEqual(me2["id"], me["id"])
        st, lst, _ = self.req("GET", "/v1/tokens", token=tok["token"])
        self.assertIn(tok["id"], [t["id"] for t in lst["tokens"]])
        self.assertNotIn("token", lst["tokens"][0])  # the secret is shown once only
        st, _, _ = self.req("DELETE", "/v1/tokens/" + tok["id"])
        self.assertEqual(st, 200)
        settle()
        self.assertError(self.req("GET", "/v1/me", token=tok["token"]), 401)
        st, _, _ = self.req("POST", "/v1/auth/logout", opener=opener, token=None, headers={"X-CSRF-Token": csrf})
        self.assertEqual(st, 200)
        settle()
        self.assertError(self.req("GET", "/v1/me", opener=opener, token=None), 401)

    def test_users_workspaces_members(self):
        st, u, _ = self.req("POST", "/v1/users", {"name": "carol", "password": "carol-password"})
        self.assertEqual(st, 201, u)
        self.assertError(self.req("POST", "/v1/users", {"name": "carol", "password": "carol-password"}), 409,
                         "conflict", "name")
        self.assertError(self.req("POST", "/v1/users", {"name": "dave", "password": "short"}), 400, "invalid",
                         "password")
        carol = self.srv.token("carol", "carol-password")
        self.assertError(self.req("GET", "/v1/users", token=carol), 403, "forbidden")
        st, ws, _ = self.req("POST", "/v1/workspaces", {"name": "carol's"}, token=carol)
        self.assertEqual(st, 201, ws)
        # The admin's dataset is invisible to carol; her own workspace is hers.
        self.assertError(self.req("GET", "/v1/datasets/" + self.ds["id"], token=carol), 404, "not_found")
        st, lst, _ = self.req("GET", "/v1/datasets?workspace=" + ws["id"], token=carol)
        self.assertEqual((st, lst), (200, {"datasets": []}))
        # Carol shares no workspace with the admin: she reaches them by the id they hand out, not by name.
        self.assertError(self.req("PUT", "/v1/workspaces/%s/members/admin" % ws["id"], {"role": "viewer"},
                                  token=carol), 404, "not_found")
        admin_id = self.req("GET", "/v1/me")[1]["id"]
        st, body, _ = self.req("PUT", "/v1/workspaces/%s/members/%s" % (ws["id"], admin_id), {"role": "viewer"},
                               token=carol)
        self.assertEqual(st, 200, body)
        st, w, _ = self.req("GET", "/v1/workspaces/" + ws["id"], token=carol)
        self.assertEqual({m["role"] for m in w["members"]}, {"owner", "viewer"})
        self.assertError(self.req("PUT", "/v1/workspaces/%s/members/admin" % ws["id"], {"role": "boss"},
                                  token=carol), 400, "invalid", "role")
        self.assertError(self.req("PUT", "/v1/workspaces/%s/members/nobody" % ws["id"], {"role": "viewer"},
                                  token=carol), 404, "not_found")
        # The admin has two workspaces now: naming none is an error that names the field.
        self.assertError(self.req("GET", "/v1/datasets"), 400, "invalid", "workspace")
        st, _, _ = self.req("DELETE", "/v1/workspaces/" + ws["id"], token=carol)
        self.assertEqual(st, 200)

    # ---------------------------------------------------------------- datasets

    def test_dataset_upload_preview_download(self):
        ds = self.ds
        self.assertEqual((ds["rows"], ds["columns"]), (344, 7))
        schema = {f["name"]: f for f in ds["schema"]}
        self.assertEqual(schema["species"]["type"], "nominal")
        self.assertEqual(set(schema["species"]["levels"]), SPECIES)
        self.assertEqual(schema["body_mass_g"]["type"], "continuous")
        st, pv, _ = self.req("GET", "/v1/datasets/%s/preview?rows=3&offset=2" % ds["id"])
        self.assertEqual(st, 200)
        self.assertEqual(pv["columns"][0], "species")
        self.assertEqual(pv["total_rows"], 344)
        self.assertEqual(len(pv["rows"]), 3)
        self.assertEqual(pv["rows"][1][2], None)  # the fourth data row has missing measurements
        self.assertError(self.req("GET", "/v1/datasets/%s/preview?rows=abc" % ds["id"]), 400, "invalid", "rows")
        st, raw, hdrs = self.req("GET", "/v1/datasets/%s/download" % ds["id"], raw=True)
        self.assertEqual(st, 200)
        self.assertEqual(raw, read(PENGUINS))
        self.assertIn("attachment", hdrs["Content-Disposition"])
        st, lst, _ = self.req("GET", "/v1/datasets")
        self.assertIn(ds["id"], [d["id"] for d in lst["datasets"]])

    def test_dataset_malformed(self):
        self.assertError(self.req("POST", "/v1/datasets?name=bad", b'a,b\n1,"unterminated\n'), 400, "invalid_csv",
                         "body")
        st, body, _ = self.req("POST", "/v1/datasets?name=bad", b'a,b\n1,2,3\n')
        self.assertEqual(st, 400, body)
        self.assertIn("line", body["error"]["message"])
        self.assertError(self.req("POST", "/v1/datasets?name=empty", b""), 400, "invalid", "body")
        self.assertError(self.req("POST", "/v1/datasets?name=header", b"a,b\n"), 400, "invalid_csv")
        self.assertError(self.req("POST", "/v1/datasets?name=%01", b"a\n1\n"), 400, "invalid", "name")
        self.assertError(self.req("POST", "/v1/datasets?name=big", b"a\n" + b"1\n" * (1 << 20)), 413, "too_large")

    def test_dataset_delete(self):
        st, ds, _ = self.req("POST", "/v1/datasets?name=tmp", b"a,b\n1,x\n2,y\n")
        self.assertEqual(st, 201, ds)
        st, _, _ = self.req("DELETE", "/v1/datasets/" + ds["id"])
        self.assertEqual(st, 200)
        self.assertError(self.req("GET", "/v1/datasets/" + ds["id"]), 404, "not_found")
        self.assertError(self.req("DELETE", "/v1/datasets/" + ds["id"]), 404)

    # ---------------------------------------------------------------- trainees

    def test_trainee_ready_and_predict(self):
        st, t, _ = self.req("GET", "/v1/trainees/" + self.tr)
        self.assertEqual(st, 200)
        self.assertTrue(t["ready"])
        self.assertEqual(t["info"]["cases"], 344)
        rows = [{"island": "Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 15, "flipper_length_mm": 218,
                 "body_mass_g": 5000, "sex": "male"},
                {"island": "Torgersen", "bill_length_mm": 38.9, "bill_depth_mm": 18.8, "flipper_length_mm": 190,
                 "body_mass_g": 3600, "sex": None}]
        st, res, _ = self.req("POST", "/v1/trainees/%s/predict" % self.tr,
                              {"targets": ["species"], "rows": rows, "details": ["cases", "contributions"]})
        self.assertEqual(st, 200, res)
        preds = res["predictions"]
        self.assertEqual([p["values"]["species"] for p in preds], ["Gentoo", "Adelie"])
        probs = preds[0]["probabilities"]["species"]
        self.assertAlmostEqual(sum(probs.values()), 1.0, places=6)
        self.assertGreater(probs["Gentoo"], 0.5)
        self.assertTrue(preds[0]["cases"])
        self.assertIn("flipper_length_mm", preds[0]["contributions"]["species"])
        # A continuous target, from a subset of features.
        st, res, _ = self.req("POST", "/v1/trainees/%s/predict" % self.tr,
                              {"targets": "body_mass_g", "contexts": ["species", "sex"],
                               "rows": [{"species": "Gentoo", "sex": "male"}]})
        self.assertEqual(st, 200, res)
        mass = float(res["predictions"][0]["values"]["body_mass_g"])
        self.assertTrue(4800 < mass < 6300, mass)
        self.assertGreater(res["predictions"][0]["uncertainty"]["body_mass_g"], 0)

    def test_predict_errors(self):
        path = "/v1/trainees/%s/predict" % self.tr
        self.assertError(self.req("POST", path, {"rows": [{"island": "Biscoe"}]}), 400, "invalid", "targets")
        self.assertError(self.req("POST", path, {"targets": ["species"]}), 400, "invalid", "rows")
        self.assertError(self.req("POST", path, {"targets": ["species"], "rows": [1]}), 400, "invalid", "rows")
        self.assertError(self.req("POST", path, {"targets": ["species"], "rows": [{"island": [1]}]}), 400,
                         "invalid", "rows")
        self.assertError(self.req("POST", path, {"targets": ["nope"], "rows": [{"island": "Biscoe"}]}), 400,
                         None, "targets")
        # The engine names the option at fault: a bad context is not blamed on the targets.
        self.assertError(self.req("POST", path, {"targets": ["species"], "contexts": ["nope"],
                                                 "rows": [{"island": "Biscoe"}]}), 400, "invalid", "contexts")
        self.assertError(self.req("POST", path, {"targets": ["species"], "contexts": ["bill_length_mm"],
                                                 "rows": [{"island": "Biscoe"}]}), 400, "invalid", "contexts")
        self.assertError(self.req("POST", path, {"targets": ["nope"], "contexts": ["island"],
                                                 "rows": [{"island": "Biscoe"}]}), 400, "invalid", "targets")
        self.assertError(self.req("POST", path, {"targets": ["species"], "details": ["everything"],
                                                 "rows": [{"island": "Biscoe"}]}), 400, "invalid", "details")
        self.assertError(self.req("POST", path, "{not json", headers=JSON), 400, "invalid_json")
        self.assertError(self.req("POST", path, "[1,2]", headers=JSON), 400, "invalid_json")
        self.assertError(self.req("POST", path, '{"a":1,"a":2}', headers=JSON), 400, "invalid_json")
        self.assertError(self.req("POST", path, b'{"targets":"\xff"}', headers=JSON), 400, "invalid_json")
        self.assertError(self.req("POST", path, "x" * (2 << 20), headers=JSON), 413, "too_large")
        self.assertError(self.req("POST", "/v1/trainees/tr_missing/predict", {}), 404, "not_found")
        self.assertError(self.req("GET", "/v1/nothing"), 404, "not_found")
        self.assertError(self.req("DELETE", "/v1/me"), 405, "method_not_allowed")

    def test_anomalies_impute_importance(self):
        st, res, _ = self.req("POST", "/v1/trainees/%s/anomalies" % self.tr, {"top": 5})
        self.assertEqual(st, 200, res)
        self.assertEqual(res["scored"], 344)
        conv = [c["conviction"] for c in res["cases"]]
        self.assertEqual(len(conv), 5)
        self.assertEqual(conv, sorted(conv))
        st, res, _ = self.req("POST", "/v1/trainees/%s/anomalies" % self.tr,
                              {"rows": [{"species": "Adelie", "island": "Torgersen", "bill_length_mm": 39,
                                         "flipper_length_mm": 185},
                                        {"species": "Adelie", "island": "Torgersen", "bill_length_mm": 90,
                                         "flipper_length_mm": 400}]})
        self.assertEqual(st, 200, res)
        self.assertGreater(res["rows"][0]["conviction"], res["rows"][1]["conviction"])
        st, res, _ = self.req("POST", "/v1/trainees/%s/impute-rows" % self.tr,
                              {"rows": [{"species": "Gentoo", "island": "Biscoe", "bill_length_mm": None,
                                         "flipper_length_mm": 220}]})
        self.assertEqual(st, 200, res)
        self.assertEqual(res["filled"], 1)
        self.assertTrue(40 < float(res["rows"][0]["bill_length_mm"]) < 60)
        st, res, _ = self.req("GET", "/v1/trainees/%s/importance?target=species&sample=100" % self.tr)
        self.assertEqual(st, 200, res)
        self.assertNotIn("species", res["importance"])
        self.assertIn("flipper_length_mm", res["importance"])
        self.assertError(self.req("GET", "/v1/trainees/%s/importance" % self.tr), 400, "invalid", "target")

    def test_analyze_export_import(self):
        st, body, _ = self.req("POST", "/v1/trainees/%s/analyze" % self.tr,
                               {"targets": ["species"], "k_values": [3, 5, 8], "seed": 3})
        self.assertEqual(st, 202, body)
        job = self.srv.wait_job(body["job"]["id"], self.tok)
        self.assertEqual(job["state"], "succeeded", job)
        self.assertGreaterEqual(job["result"]["version"], 2)
        st, t, _ = self.req("GET", "/v1/trainees/" + self.tr)
        self.assertTrue(t["info"]["analyzed"])
        self.assertIn(t["info"]["k"], (3, 5, 8))
        st, raw, _ = self.req("GET", "/v1/trainees/%s/export" % self.tr, raw=True)
        self.assertEqual(st, 200)
        st, imp, _ = self.req("POST", "/v1/trainees/import?name=copy", raw)
        self.assertEqual(st, 201, imp)
        row = {"island": "Dream", "bill_length_mm": 49, "bill_depth_mm": 18.5, "flipper_length_mm": 196}
        a = self.req("POST", "/v1/trainees/%s/predict" % self.tr, {"targets": ["species"], "rows": [row]})[1]
        b = self.req("POST", "/v1/trainees/%s/predict" % imp["id"], {"targets": ["species"], "rows": [row]})[1]
        self.assertEqual(a["predictions"], b["predictions"])
        self.assertError(self.req("POST", "/v1/trainees/import?name=junk", b"COHORT-not-really"), 422,
                         "invalid_trainee", "body")
        # Parameters are checked before a job is queued.
        path = "/v1/trainees/%s/analyze" % self.tr
        self.assertError(self.req("POST", path, {"k_values": "x"}), 400, "invalid", "k_values")
        self.assertError(self.req("POST", path, {"k_values": [3, 0]}), 400, "invalid", "k_values")
        self.assertError(self.req("POST", path, {"k_value": [3]}), 400, "invalid", "k_value")
        self.assertError(self.req("POST", path, {"targets": [1]}), 400, "invalid", "targets")
        # One limit, at submit and at run: a grid longer than COHORT_GRID_MAX (64) is refused now,
        # not accepted and then failed by the job.
        self.assertError(self.req("POST", path, {"k_values": list(range(1, 70))}), 400, "invalid", "k_values")
        st, body, _ = self.req("POST", path, {"k_values": list(range(1, 65)), "p_values": [1, 2], "sample": 50,
                                              "targets": "species"})
        self.assertEqual(st, 202, body)
        job = self.srv.wait_job(body["job"]["id"], self.tok)
        self.assertEqual(job["state"], "succeeded", job)
        path = "/v1/trainees/%s/synthesize" % self.tr
        self.assertError(self.req("POST", path, {"rows": 0}), 400, "invalid", "rows")
        self.assertError(self.req("POST", path, {"rows": 10 ** 9}), 400, "invalid", "rows")
        self.assertError(self.req("POST", path, {"fixed": {"sex": 1}}), 400, "invalid", "fixed")
        self.assertError(self.req("POST", path, {"conviction": "high"}), 400, "invalid", "conviction")
        self.assertError(self.req("POST", "/v1/trainees/%s/train" % self.tr,
                                  {"dataset": self.ds["id"], "features": {"sex": {"ignored": True}}}), 400, "invalid",
                         "features")
        # What only the trainee can tell is found by the job, which fails with a message.
        st, body, _ = self.req("POST", "/v1/trainees/%s/analyze" % self.tr, {"targets": ["nope"]})
        job = self.srv.wait_job(body["job"]["id"], self.tok)
        self.assertEqual(job["state"], "failed")
        self.assertIn("nope", job["error"])
        st, _, _ = self.req("DELETE", "/v1/trainees/" + imp["id"])
        self.assertEqual(st, 200)
        self.assertError(self.req("GET", "/v1/trainees/" + imp["id"]), 404)

    def test_trainee_create_errors(self):
        self.assertError(self.req("POST", "/v1/trainees", {"name": "x"}), 400, "invalid", "dataset")
        self.assertError(self.req("POST", "/v1/trainees", {"name": "x", "dataset": "ds_nope"}), 400, "invalid",
                         "dataset")
        self.assertError(self.req("POST", "/v1/trainees", {"name": "x", "dataset": self.ds["id"], "features": 3}),
                         400, "invalid", "features")
        # Overrides are checked by the train job, which fails with a message naming the feature.
        st, body, _ = self.req("POST", "/v1/trainees", {"name": "x", "dataset": self.ds["id"],
                                                        "features": {"nope": {"type": "nominal"}}})
        self.assertEqual(st, 202)
        job = self.srv.wait_job(body["job"]["id"], self.tok)
        self.assertEqual(job["state"], "failed")
        self.assertIn("features.nope", job["error"])
        st, t, _ = self.req("GET", "/v1/trainees/" + body["trainee"]["id"])
        self.assertFalse(t["ready"])
        self.assertError(self.req("POST", "/v1/trainees/%s/predict" % t["id"],
                                  {"targets": ["species"], "rows": [{"island": "Biscoe"}]}), 409, "conflict")
        # An override that applies.
        st, body, _ = self.req("POST", "/v1/trainees", {"name": "y", "dataset": self.ds["id"],
                                                        "features": {"sex": {"ignored": True}}})
        job = self.srv.wait_job(body["job"]["id"], self.tok)
        self.assertEqual(job["state"], "succeeded", job)
        st, t, _ = self.req("GET", "/v1/trainees/" + body["trainee"]["id"])
        sex = [f for f in t["info"]["schema"] if f["name"] == "sex"][0]
        self.assertTrue(sex["ignored"])

    # ---------------------------------------------------------------- synthesis, reports, events

    def test_synthesize_report_events(self):
        st, body, _ = self.req("POST", "/v1/trainees/%s/synthesize" % self.tr,
                               {"rows": 200, "privacy": "local", "seed": 5, "target": "species"})
        self.assertEqual(st, 202, body)
        job_id = body["job"]["id"]
        # Server-Sent Events until the job ends.
        host, port = self.srv.url[7:].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        conn.request("GET", "/v1/jobs/%s/events" % job_id, headers={"Authorization": "Bearer " + self.tok})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.getheader("Content-Type").startswith("text/event-stream"))
        events = []
        for line in resp.read().decode().splitlines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
        conn.close()
        self.assertTrue(events)
        self.assertEqual(events[-1]["state"], "succeeded", events[-1])
        job = events[-1]
        self.assertEqual(job["result"]["rows"], 200)
        st, ds, _ = self.req("GET", "/v1/datasets/" + job["result"]["dataset"])
        self.assertEqual(ds["rows"], 200)
        st, rep, _ = self.req("GET", "/v1/reports/" + job["result"]["report"])
        self.assertEqual(st, 200, rep)
        q = rep["summary"]["quality"]
        self.assertTrue(0.5 < q <= 1.0, q)
        self.assertEqual(rep["summary"]["identical_rows"], 0)
        self.assertIsNotNone(rep["evaluation"])
        st, html, hdrs = self.req("GET", "/v1/reports/%s/html" % rep["id"], raw=True)
        self.assertEqual(st, 200)
        self.assertIn(b"<svg", html)
        self.assertIn("default-src 'none'", hdrs["Content-Security-Policy"])
        st, lst, _ = self.req("GET", "/v1/reports?trainee=" + self.tr)
        self.assertIn(rep["id"], [r["id"] for r in lst["reports"]])
        # Evaluate two datasets directly.
        st, body, _ = self.req("POST", "/v1/evaluate", {"real": self.ds["id"], "synthetic": ds["id"]})
        self.assertEqual(st, 202, body)
        job = self.srv.wait_job(body["job"]["id"], self.tok)
        self.assertEqual(job["state"], "succeeded", job)
        self.assertError(self.req("POST", "/v1/evaluate", {"real": self.ds["id"], "synthetic": "ds_x"}), 400,
                         "invalid", "synthetic")
        # Job listing and filters.
        st, jobs, _ = self.req("GET", "/v1/jobs?trainee=%s&state=succeeded" % self.tr)
        self.assertTrue(all(j["state"] == "succeeded" and j["trainee"] == self.tr for j in jobs["jobs"]))
        self.assertError(self.req("GET", "/v1/jobs?state=nope"), 400, "invalid", "state")
        self.assertError(self.req("POST", "/v1/trainees/%s/synthesize" % self.tr, {"privacy": "none"}), 400,
                         "invalid", "privacy")

    def test_cancel(self):
        st, body, _ = self.req("POST", "/v1/trainees/%s/synthesize" % self.tr, {"rows": 1000000})
        self.assertEqual(st, 202, body)
        job_id = body["job"]["id"]
        st, job, _ = self.req("POST", "/v1/jobs/%s/cancel" % job_id)
        self.assertEqual(st, 202, job)
        job = self.srv.wait_job(job_id, self.tok, timeout=60)
        self.assertEqual(job["state"], "cancelled", job)
        self.assertError(self.req("POST", "/v1/jobs/%s/cancel" % job_id), 409, "conflict")


class DurabilityTest(unittest.TestCase):
    def test_restart_requeues_and_keeps_trainee(self):
        data = tempfile.mkdtemp(prefix="cohort-durable-")
        srv = CohortServer(BIN, data_dir=data, extra_args=["--workers", "1"]).start()
        try:
            tok = srv.token()
            st, ds, _ = srv.request("POST", "/v1/datasets?name=p", read(PENGUINS), token=tok)
            st, body, _ = srv.request("POST", "/v1/trainees", {"name": "p", "dataset": ds["id"]}, token=tok)
            tr = body["trainee"]["id"]
            self.assertEqual(srv.wait_job(body["job"]["id"], tok)["state"], "succeeded")
            row = {"island": "Biscoe", "flipper_length_mm": 221}
            before = srv.request("POST", "/v1/trainees/%s/predict" % tr, {"targets": ["species"], "rows": [row]},
                                 token=tok)[1]
            # A long job, then the process dies mid-job (no clean shutdown).
            st, body, _ = srv.request("POST", "/v1/trainees/%s/synthesize" % tr, {"rows": 1000000}, token=tok)
            job_id = body["job"]["id"]
            deadline = time.time() + 30
            while srv.request("GET", "/v1/jobs/" + job_id, token=tok)[1]["state"] != "running":
                self.assertLess(time.time(), deadline)
                time.sleep(0.05)
            srv.kill()
            srv2 = CohortServer(BIN, data_dir=data, extra_args=["--workers", "1"]).start()
            try:
                # Same token (state is durable); the job runs again, once.
                deadline = time.time() + 30
                while True:
                    job = srv2.request("GET", "/v1/jobs/" + job_id, token=tok)[1]
                    if job["state"] == "running" and job["attempts"] == 2:
                        break
                    self.assertLess(time.time(), deadline, job)
                    time.sleep(0.05)
                self.assertEqual(srv2.request("POST", "/v1/jobs/%s/cancel" % job_id, token=tok)[0], 202)
                self.assertEqual(srv2.wait_job(job_id, tok, timeout=60)["state"], "cancelled")
                after = srv2.request("POST", "/v1/trainees/%s/predict" % tr,
                                     {"targets": ["species"], "rows": [row]}, token=tok)[1]
                self.assertEqual(before["predictions"], after["predictions"])
                # A clean stop while a job runs leaves it to run again at the next start.
                st, body, _ = srv2.request("POST", "/v1/trainees/%s/synthesize" % tr, {"rows": 1000000}, token=tok)
                job2 = body["job"]["id"]
                while srv2.request("GET", "/v1/jobs/" + job2, token=tok)[1]["state"] != "running":
                    time.sleep(0.05)
                self.assertEqual(srv2.stop(), 0)
                srv2.start()
                deadline = time.time() + 30
                while srv2.request("GET", "/v1/jobs/" + job2, token=tok)[1]["attempts"] < 2:
                    self.assertLess(time.time(), deadline)
                    time.sleep(0.05)
                srv2.request("POST", "/v1/jobs/%s/cancel" % job2, token=tok)
                self.assertEqual(srv2.wait_job(job2, tok, timeout=60)["state"], "cancelled")
            finally:
                self.assertEqual(srv2.stop(), 0)
        finally:
            srv.cleanup()
            import shutil
            shutil.rmtree(data, ignore_errors=True)

    def test_stop_with_open_event_streams(self):
        # Watchers parked on a running job's events must not hold up a clean stop.
        with CohortServer(BIN) as srv:
            tok = srv.token()
            st, ds, _ = srv.request("POST", "/v1/datasets?name=p", read(PENGUINS), token=tok)
            st, b, _ = srv.request("POST", "/v1/trainees", {"name": "p", "dataset": ds["id"]}, token=tok)
            srv.wait_job(b["job"]["id"], tok)
            st, b, _ = srv.request("POST", "/v1/trainees/%s/synthesize" % b["trainee"]["id"], {"rows": 1000000},
                                   token=tok)
            host, port = srv.url[7:].rsplit(":", 1)
            streams = []
            for _ in range(3):
                c = http.client.HTTPConnection(host, int(port), timeout=30)
                c.request("GET", "/v1/jobs/%s/events" % b["job"]["id"], headers={"Authorization": "Bearer " + tok})
                r = c.getresponse()
                self.assertEqual(r.status, 200)
                self.assertTrue(r.read1(100).startswith(b"event: job"))
                streams.append(c)
            t0 = time.time()
            self.assertEqual(srv.stop(), 0)
            self.assertLess(time.time() - t0, 10)
            for c in streams:
                c.close()

    @unittest.skipIf(os.environ.get("COHORT_TEST_ROLES"), "trainees are hosted (and counted) by the workers, "
                     "each under its own budget; test_roles.py covers hosting on workers")
    def test_memory_budget_evicts_and_reloads(self):
        # Two trainees of ~1 MiB each under a 1 MiB budget: the idle one is evicted, and comes
        # back from storage when asked again. They are made under the default budget (parsing and
        # training reserve several MiB of it), then the server restarts with 1 MiB.
        rows = ["a,b,c,d,e,f,g,h"] + ["%d,%d,%d,%d,%d,%s,%d,%d" % (i, i * 7 % 101, i % 13, i * 3 % 97, i % 5,
                                                                    "xyz"[i % 3], i % 1000, (i * 11) % 577)
                                      for i in range(20000)]
        csv = ("\n".join(rows) + "\n").encode()
        with CohortServer(BIN) as srv:
            tok = srv.token()
            st, ds, _ = srv.request("POST", "/v1/datasets?name=big", csv, token=tok)
            self.assertEqual(st, 201, ds)
            ids = []
            for name in ("one", "two"):
                st, body, _ = srv.request("POST", "/v1/trainees", {"name": name, "dataset": ds["id"]}, token=tok)
                self.assertEqual(srv.wait_job(body["job"]["id"], tok)["state"], "succeeded")
                ids.append(body["trainee"]["id"])
            self.assertEqual(srv.stop(), 0)
            srv.extra_args += ["--memory_budget_mb", "1"]
            srv.start()

            def predict(tr):
                st, res, _ = srv.request("POST", "/v1/trainees/%s/predict" % tr,
                                         {"targets": ["b"], "rows": [{"a": 7, "c": 7}]}, token=tok)
                self.assertEqual(st, 200, res)
                return res["predictions"]

            def metric(name):
                text = srv.request("GET", "/metrics")[1].decode()
                return float([l for l in text.splitlines() if l.startswith(name + " ")][0].split()[1])

            first = predict(ids[0])
            predict(ids[1])
            self.assertEqual(metric("cohort_trainees_loaded"), 1)
            self.assertGreaterEqual(metric("cohort_trainee_evictions_total"), 1)
            loads = metric("cohort_trainee_loads_total")
            self.assertEqual(predict(ids[0]), first)
            self.assertEqual(metric("cohort_trainee_loads_total"), loads + 1)

    def test_config_file_env_and_flags(self):
        folder = tempfile.mkdtemp(prefix="cohort-conf-")
        conf = os.path.join(folder, "cohort.conf")
        with open(conf, "w") as f:
            f.write("# settings\nmax_rows = 5\nworkers = 1\nlog_level = \"info\"\n")
        with CohortServer(BIN, extra_args=["--config", conf], env={"COHORT_MAX_BODY_MB": "1"}) as srv:
            tok = srv.token()
            st, body, _ = srv.request("POST", "/v1/datasets?name=x", b"a\n" + b"1\n" * 6, token=tok)
            self.assertEqual(st, 413, body)  # max_rows from the file
            self.assertIn("max_rows", body["error"]["message"])
            st, body, _ = srv.request("POST", "/v1/tokens", "x" * (2 << 20), token=tok)
            self.assertEqual(st, 413)  # max_body_mb from the environment
        with open(conf, "w") as f:
            f.write("max_rows = lots\n")
        p = subprocess.run([BIN, "serve", "--config", conf], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("line 1", p.stderr)
        self.assertIn("max_rows", p.stderr)
        import shutil
        shutil.rmtree(folder, ignore_errors=True)

    def test_ui_embedded_and_from_a_folder(self):
        with CohortServer(BIN) as srv:
            st, html, hdrs = srv.request("GET", "/", raw=True)
            self.assertEqual(st, 200)
            self.assertIn(b"/ui/app.js", html)
            self.assertIn("default-src 'self'", hdrs["Content-Security-Policy"])
            st, js, hdrs = srv.request("GET", "/ui/app.js", raw=True)
            self.assertTrue(hdrs["Content-Type"].startswith("text/javascript"))
            st, same, _ = srv.request("GET", "/ui/trainees", raw=True)  # client-side route
            self.assertEqual(same, html)
        folder = tempfile.mkdtemp(prefix="cohort-ui-")
        with open(os.path.join(folder, "index.html"), "w") as f:
            f.write("<p>dev ui</p>")
        with open(os.path.join(folder, "app.js"), "w") as f:
            f.write("// dev")
        with CohortServer(BIN, extra_args=["--ui_dir", folder]) as srv:
            self.assertEqual(srv.request("GET", "/", raw=True)[1], b"<p>dev ui</p>")
            self.assertEqual(srv.request("GET", "/ui/app.js", raw=True)[1], b"// dev")
            self.assertEqual(srv.request("GET", "/ui/..", raw=True)[1], b"<p>dev ui</p>")
            self.assertEqual(srv.request("GET", "/ui/.hidden", raw=True)[1], b"<p>dev ui</p>")
        import shutil
        shutil.rmtree(folder, ignore_errors=True)

    def test_first_start_needs_a_password(self):
        data = tempfile.mkdtemp(prefix="cohort-nopw-")
        env = dict(os.environ)
        env.pop("COHORT_ADMIN_PASSWORD", None)
        p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data_dir", data], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("admin_password", p.stderr)
        p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data_dir", data],
                           env=dict(env, COHORT_ADMIN_PASSWORD="short"), capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("at least 8", p.stderr)
        p = subprocess.run([BIN, "serve", "--no_such_setting", "1"], env=env, capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("no_such_setting", p.stderr)
        p = subprocess.run([BIN, "serve", "--help"], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertIn("COHORT_MEMORY_BUDGET_MB", p.stdout)
        import shutil
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
