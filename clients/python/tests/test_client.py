"""Tests of cohort_client against a real `cohort serve` (tests/server/harness.py).

Run:  COHORT_BIN=/work/main/build/cohort python3 -m unittest discover -s clients/python/tests -v
The server binary comes from $COHORT_BIN (default <repo>/build/cohort). pandas tests run only
where pandas imports.
"""
import io
import os
import sys
import tempfile
import threading
import time
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "server"))
sys.path.insert(0, os.path.join(REPO, "clients", "python"))

from harness import CohortServer  # noqa: E402

import cohort_client  # noqa: E402
from cohort_client import (Client, CohortConnectionError, CohortError, Dataset, Event, Job,  # noqa: E402
                           JobFailedError, Report, Trainee, UnseenValueWarning, WaitTimeoutError, Workspace,
                           parse_sse)

COHORT_BIN = os.environ.get("COHORT_BIN") or os.path.join(REPO, "build", "cohort")
PENGUINS = os.path.join(REPO, "tests", "data", "penguins.csv")
SPECIES = {"Adelie", "Gentoo", "Chinstrap"}
COLUMNS = ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]

try:
    import pandas as pd
except ImportError:
    pd = None


def penguin_rows():
    with open(PENGUINS, "rb") as f:
        return cohort_client._rows.csv_to_records(f.read())


def without(rows, *cols):
    return [{k: v for k, v in r.items() if k not in cols} for r in rows]


class ServerCase(unittest.TestCase):
    """One server per test class; cls.client signs in with an API token of the administrator."""

    extra_args = ()

    @classmethod
    def setUpClass(cls):
        if not os.access(COHORT_BIN, os.X_OK):
            raise unittest.SkipTest("no server binary at %s (build it, or set COHORT_BIN)" % COHORT_BIN)
        cls.server = CohortServer(COHORT_BIN, extra_args=cls.extra_args).start()
        try:
            cls.token = cls.make_token()
            cls.client = Client(cls.server.url, token=cls.token, timeout=30, wait_timeout=60)
        except BaseException:
            cls.server.cleanup()
            raise

    @classmethod
    def make_token(cls):
        return cls.server.token()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def assertCohortError(self, ctx, status, code, field=None):
        e = ctx.exception
        self.assertIsInstance(e, CohortError)
        self.assertEqual((e.status, e.code, e.field), (status, code, field), str(e))
        self.assertTrue(e.message)


# ---------------------------------------------------------------------------- no server needed

class OfflineTest(unittest.TestCase):
    def test_env_defaults(self):
        env = {"COHORT_URL": "http://example.invalid:9/", "COHORT_TOKEN": "tok-1", "COHORT_WAIT_TIMEOUT": "12.5"}
        with mock.patch.dict(os.environ, env):
            c = Client()
            self.assertEqual((c.url, c.token, c.wait_timeout, c.timeout),
                             ("http://example.invalid:9", "tok-1", 12.5, 60))
            self.assertEqual(Client("http://h:1", token="x", wait_timeout=3).wait_timeout, 3.0)
        with mock.patch.dict(os.environ, {"COHORT_WAIT_TIMEOUT": "soon"}):
            with self.assertRaises(ValueError):
                Client("http://h:1")
        clean = {k: v for k, v in os.environ.items() if k not in ("COHORT_URL", "COHORT_TOKEN", "COHORT_WAIT_TIMEOUT")}
        with mock.patch.dict(os.environ, clean, clear=True):
            c = Client()
            self.assertEqual((c.url, c.token, c.wait_timeout), (cohort_client.DEFAULT_URL, None, 600.0))

    def test_parse_sse(self):
        lines = [b": keep-alive\n", b"\n", b"event: job\n", b'data: {"state": "running"}\r\n', b"\n",
                 b"id: 7\n", b"data: line one\n", b"data:line two\n", b"\n", b"event: tail\n", b"data: dropped\n"]
        self.assertEqual(list(parse_sse(lines)), [Event("job", {"state": "running"}, None),
                                                  Event("message", "line one\nline two", "7")])

    def test_connection_error(self):
        with self.assertRaises(CohortConnectionError) as ctx:
            Client("http://127.0.0.1:1", token="x", timeout=5).me()
        self.assertIsNone(ctx.exception.status)
        self.assertEqual(ctx.exception.code, "connection")

    def test_without_pandas(self):
        # Simulates a missing pandas in any interpreter: lists of dicts work, as_frame says why not.
        with mock.patch.dict(sys.modules, {"pandas": None}):
            self.assertIsNone(cohort_client._rows.pandas_module())
            self.assertFalse(cohort_client._rows.is_frame([{"a": 1}]))
            self.assertEqual(cohort_client._rows.to_records([{"a": float("nan"), "b": 2}]), [{"a": None, "b": 2}])
            with self.assertRaises(ImportError):
                Client("http://127.0.0.1:1").download_dataset("ds_x", as_frame=True)


# ---------------------------------------------------------------------------- users and access

class AuthTest(ServerCase):
    # Secure session cookies (the server's default): the client still sends them over plain HTTP.
    extra_args = ("--secure_cookies", "true")

    @classmethod
    def make_token(cls):  # the harness's cookie jar keeps Secure cookies off http://; the client does not
        return Client(cls.server.url).login("admin", cls.server.admin_password).create_token("test")["token"]
    def test_me_and_env_token(self):
        me = self.client.me()
        self.assertEqual((me["name"], me["admin"]), ("admin", True))
        self.assertEqual([w["workspace_name"] for w in me["workspaces"]], ["default"])
        with mock.patch.dict(os.environ, {"COHORT_URL": self.server.url, "COHORT_TOKEN": self.token}):
            self.assertEqual(Client().me()["id"], me["id"])
        self.assertEqual(self.client.health(), {"status": "ok"})
        self.assertTrue(self.client.ready())

    def test_login_session_csrf_logout(self):
        c = Client(self.server.url).login("admin", self.server.admin_password)
        _, _, raw = self.server.request("POST", "/v1/auth/login", {"username": "admin",
                                                                 "password": self.server.admin_password})
        self.assertIn("Secure", raw.get("Set-Cookie"))  # a cookie jar would not send it over http://
        self.assertEqual(c.user["name"], "admin")
        self.assertNotIn("csrf_token", c.user)
        self.assertIsNone(c.token)
        ws = c.create_workspace("made-in-session")  # a change: needs the CSRF header the client sends
        self.assertEqual(ws.role, "owner")
        good = c._csrf
        c._csrf = "wrong"
        with self.assertRaises(CohortError) as ctx:
            c.delete_workspace(ws)
        self.assertCohortError(ctx, 403, "csrf", "X-CSRF-Token")
        c._csrf = good
        self.assertEqual(c.delete_workspace(ws), {"deleted": ws.id})
        c.logout()
        with self.assertRaises(CohortError) as ctx:
            c.me()
        self.assertCohortError(ctx, 401, "unauthenticated")

    def test_change_password_and_openapi(self):
        c = self.client
        c.create_user("carol", "carol-password-1")
        with Client(self.server.url).login("carol", "carol-password-1") as carol:
            with self.assertRaises(CohortError) as ctx:
                carol.change_password("wrong-password", "carol-password-2")
            self.assertCohortError(ctx, 403, "forbidden", "current")
            self.assertEqual(carol.change_password("carol-password-1", "carol-password-2")["changed"], True)
        self.assertEqual(Client(self.server.url).login("carol", "carol-password-2").user["name"], "carol")
        doc = c.openapi()
        self.assertIn("/v1/trainees/{id}/predict", doc["paths"])

    def test_login_wrong_password(self):
        with self.assertRaises(CohortError) as ctx:
            Client(self.server.url).login("admin", "not-the-password")
        self.assertCohortError(ctx, 401, "unauthenticated", "password")

    def test_unauthenticated_and_bad_token(self):
        clean = {k: v for k, v in os.environ.items() if k != "COHORT_TOKEN"}
        with mock.patch.dict(os.environ, clean, clear=True):
            with self.assertRaises(CohortError) as ctx:
                Client(self.server.url).datasets()
        self.assertCohortError(ctx, 401, "unauthenticated")
        with self.assertRaises(CohortError) as ctx:
            Client(self.server.url, token="nope").me()
        self.assertCohortError(ctx, 401, "unauthenticated", "Authorization")

    def test_tokens(self):
        made = self.client.create_token("ci", ttl_days=1)
        self.assertEqual(made["name"], "ci")
        self.assertIsNotNone(made["expires_ms"])
        other = Client(self.server.url, token=made["token"])
        self.assertEqual(other.me()["name"], "admin")
        listed = {t["id"]: t for t in self.client.tokens()}
        self.assertIn(made["id"], listed)
        self.assertNotIn("token", listed[made["id"]])
        self.assertEqual(self.client.delete_token(made), {"deleted": made["id"]})
        with self.assertRaises(CohortError) as ctx:
            other.me()
        self.assertCohortError(ctx, 401, "unauthenticated", "Authorization")
        with self.assertRaises(CohortError) as ctx:
            self.client.delete_token(made["id"])
        self.assertCohortError(ctx, 404, "not_found")
        with self.assertRaises(CohortError) as ctx:
            self.client.create_token("")
        self.assertCohortError(ctx, 400, "invalid", "name")

    def test_users_workspaces_members(self):
        c = self.client
        user = c.create_user("alice", "alice-password-1")
        self.assertEqual((user["name"], user["admin"]), ("alice", False))
        self.assertIn("alice", [u["name"] for u in c.users()])
        with self.assertRaises(CohortError) as ctx:
            c.create_user("alice", "alice-password-1")
        self.assertCohortError(ctx, 409, "conflict", "name")
        with self.assertRaises(CohortError) as ctx:
            c.create_user("bob", "short")
        self.assertCohortError(ctx, 400, "invalid", "password")

        alice = Client(self.server.url).login("alice", "alice-password-1")
        self.assertEqual(alice.me()["workspaces"], [])
        with self.assertRaises(CohortError) as ctx:
            alice.users()
        self.assertCohortError(ctx, 403, "forbidden")

        ws = c.create_workspace("team")
        self.assertIsInstance(ws, Workspace)
        self.assertIn(ws.id, [w.id for w in c.workspaces()])
        self.assertEqual([m["role"] for m in c.workspace(ws.id).members], ["owner"])
        self.assertEqual(ws.set_member("alice", "viewer")["role"], "viewer")
        self.assertEqual([(w.id, w.role) for w in alice.workspaces()], [(ws.id, "viewer")])
        with self.assertRaises(CohortError) as ctx:  # a viewer may not upload
            alice.upload_dataset(b"a,b\n1,2\n", name="tiny", workspace=ws)
        self.assertCohortError(ctx, 403, "forbidden")
        c.set_member(ws, "alice", "editor")
        tiny = alice.upload_dataset(b"a,b\n1,2\n", name="tiny")  # her only workspace: no need to name it
        self.assertEqual((tiny.workspace_id, tiny.rows, tiny.columns), (ws.id, 1, 2))
        self.assertEqual([d.id for d in ws.datasets()], [tiny.id])
        self.assertEqual([d.id for d in alice.datasets()], [tiny.id])
        other = ws.upload_dataset(b"a,b\n3,4\n5,6\n", name="other")  # admin names the workspace
        self.assertEqual(other.rows, 2)
        scoped = Client(self.server.url, token=self.token, workspace=ws.id)
        self.assertEqual(sorted(d.name for d in scoped.datasets()), ["other", "tiny"])
        self.assertEqual((ws.trainees(), ws.jobs(), ws.reports()), ([], [], []))
        self.assertEqual(ws.refresh().name, "team")
        with self.assertRaises(CohortError) as ctx:
            c.set_member(ws, "nobody", "viewer")
        self.assertCohortError(ctx, 404, "not_found")
        with self.assertRaises(CohortError) as ctx:
            c.set_member(ws, "alice", "king")
        self.assertCohortError(ctx, 400, "invalid", "role")
        with self.assertRaises(CohortError) as ctx:  # admin belongs to two workspaces now
            c.datasets()
        self.assertCohortError(ctx, 400, "invalid", "workspace")
        with self.assertRaises(CohortError) as ctx:  # only an empty workspace may go
            ws.delete()
        self.assertCohortError(ctx, 409, "conflict")
        for d in ws.datasets():
            c.delete_dataset(d.id)
        self.assertEqual(ws.delete(), {"deleted": ws.id})
        with self.assertRaises(CohortError) as ctx:
            c.workspace(ws.id)
        self.assertCohortError(ctx, 404, "not_found")


# ---------------------------------------------------------------------------- data and models

class ModelTest(ServerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.ds = cls.client.upload_dataset(PENGUINS)
            cls.trainee = cls.client.create_trainee(cls.ds, name="penguins", wait=True)
            cls.trainee.analyze(targets=["species"]).wait()
            cls.trainee.refresh()
            cls.rows = penguin_rows()
        except BaseException:
            cls.server.cleanup()
            raise

    # datasets
    def test_upload_variants(self):
        self.assertEqual((self.ds.name, self.ds.rows, self.ds.columns), ("penguins", 344, 7))
        self.assertEqual([f["name"] for f in self.ds.schema], COLUMNS)
        with open(PENGUINS, "rb") as f:
            data = f.read()
        from_bytes = self.client.upload_dataset(data, name="bytes")
        with open(PENGUINS, "rb") as f:
            from_file = self.client.upload_dataset(f)
        from_list = self.client.upload_dataset(self.rows[:10], name="list")
        self.assertEqual((from_bytes.name, from_bytes.rows), ("bytes", 344))
        self.assertEqual((from_file.name, from_file.rows), ("penguins", 344))
        self.assertEqual((from_list.rows, from_list.columns), (10, 7))
        self.assertEqual(from_list.records(), self.rows[:10])
        for d in (from_bytes, from_file, from_list):
            d.delete()
        with self.assertRaises(CohortError) as ctx:
            self.client.upload_dataset(b"")
        self.assertCohortError(ctx, 400, "invalid", "body")
        with self.assertRaises(CohortError) as ctx:
            self.client.upload_dataset(b"a,b\n")
        self.assertCohortError(ctx, 400, "invalid_csv", "body")

    def test_dataset_get_preview_download_delete(self):
        c = self.client
        self.assertIn(self.ds.id, [d.id for d in c.datasets()])
        got = c.dataset(self.ds.id)
        self.assertIsInstance(got, Dataset)
        self.assertEqual(got, self.ds)
        self.assertIsNone([d for d in c.datasets() if d.id == got.id][0].get("schema"))  # lists leave it out
        self.assertEqual(got.refresh().rows, 344)
        self.assertEqual(got.schema[0]["levels"], ["Adelie", "Gentoo", "Chinstrap"])
        prev = got.preview(rows=5, offset=2)
        self.assertEqual((prev["columns"], prev["offset"], prev["total_rows"], len(prev["rows"])), (COLUMNS, 2, 344, 5))
        self.assertEqual(prev["rows"][1][:2], ["Adelie", "Torgersen"])
        self.assertIsNone(prev["rows"][1][2])  # the fourth row is missing its measurements
        with open(PENGUINS, "rb") as f:
            original = f.read()
        self.assertEqual(got.download(), original)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "copy.csv")
            self.assertEqual(got.download(path), path)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), original)
        self.assertEqual(len(got.records()), 344)
        with self.assertRaises(CohortError) as ctx:
            got.preview(rows=0)
        self.assertCohortError(ctx, 400, "invalid", "rows")
        extra = c.upload_dataset(original, name="to-delete")
        self.assertEqual(extra.delete(), {"deleted": extra.id})
        with self.assertRaises(CohortError) as ctx:
            c.dataset(extra.id)
        self.assertCohortError(ctx, 404, "not_found")

    # trainees
    def test_trainee_records(self):
        t = self.client.trainee(self.trainee.id)
        self.assertIsInstance(t, Trainee)
        self.assertTrue(t.ready)
        self.assertEqual((t.info["cases"], t.info["analyzed"], t.dataset_id), (344, True, self.ds.id))
        self.assertEqual(self.trainee.job.kind, "train")
        self.assertEqual(self.trainee.job.result["cases"], 344)
        self.assertIn(t.id, [x.id for x in self.client.trainees()])

    def test_feature_overrides(self):
        t = self.client.create_trainee(self.ds, name="no-sex", features={"sex": {"ignored": True},
                                                                         "island": {"type": "nominal"}})
        self.assertIs(t.wait_ready(timeout=30), t)
        schema = {f["name"]: f for f in t.info["schema"]}
        self.assertTrue(schema["sex"]["ignored"])
        self.assertFalse(schema["island"]["ignored"])
        self.assertNotIn("sex", t.importance("species"))
        bad = self.client.create_trainee(self.ds, name="bad", features={"nope": {"type": "nominal"}})
        with self.assertRaises(JobFailedError) as ctx:
            bad.wait_ready()
        self.assertIn("features.nope", ctx.exception.message)
        self.assertEqual(ctx.exception.job.state, "failed")
        with self.assertRaises(CohortError) as ctx:
            self.client.create_trainee(self.ds, features=[1])
        self.assertCohortError(ctx, 400, "invalid", "features")
        with self.assertRaises(CohortError) as ctx:
            self.client.create_trainee("ds_nope", name="x")
        self.assertCohortError(ctx, 400, "invalid", "dataset")
        for x in (t, bad):
            self.assertEqual(x.delete(), {"deleted": x.id})
        with self.assertRaises(CohortError) as ctx:
            self.client.trainee(t.id)
        self.assertCohortError(ctx, 404, "not_found")

    def test_predict_species(self):
        preds = self.trainee.predict(without(self.rows, "species"), ["species"])
        self.assertEqual(len(preds), 344)
        got = [p["values"]["species"] for p in preds]
        self.assertTrue(set(got) <= SPECIES, set(got))
        right = sum(g == r["species"] for g, r in zip(got, self.rows))
        self.assertGreater(right / 344, 0.9)
        for p in preds[:20]:
            probs = p["probabilities"]["species"]
            self.assertEqual(set(probs), SPECIES)
            self.assertAlmostEqual(sum(probs.values()), 1.0, places=6)
            self.assertEqual(max(probs, key=probs.get), p["values"]["species"])

    def test_predict_details_and_errors(self):
        one = self.trainee.predict({"island": "Biscoe", "bill_length_mm": 47.5, "flipper_length_mm": 217.0},
                                   "species", details=["cases", "contributions"], contexts=["island", "bill_length_mm",
                                                                                            "flipper_length_mm"])
        self.assertEqual(one[0]["values"]["species"], "Gentoo")
        self.assertTrue(one[0]["cases"])
        self.assertEqual(set(one[0]["contributions"]["species"]), {"island", "bill_length_mm", "flipper_length_mm"})
        mass = self.trainee.predict([{"species": "Gentoo", "sex": "male"}, {"species": "Adelie", "sex": "female"}],
                                    ["body_mass_g"])
        big, small = (float(p["values"]["body_mass_g"]) for p in mass)
        self.assertGreater(big, small)
        with self.assertRaises(CohortError) as ctx:
            self.trainee.predict([{"island": "Biscoe"}], ["nope"])
        self.assertCohortError(ctx, 400, "invalid", "targets")
        with self.assertRaises(CohortError) as ctx:
            self.trainee.predict([], ["species"])
        self.assertCohortError(ctx, 400, "invalid", "rows")
        with self.assertRaises(CohortError) as ctx:
            self.trainee.predict([{"island": "Biscoe"}], ["species"], details=["everything"])
        self.assertCohortError(ctx, 400, "invalid", "details")
        # A misspelt column is refused with the nearest name; an unseen category is warned about.
        with self.assertRaises(CohortError) as ctx:
            self.trainee.predict([{"flipper_lenght_mm": 200}], ["species"])
        self.assertCohortError(ctx, 400, "invalid", "rows")
        self.assertIn("did you mean 'flipper_length_mm'?", str(ctx.exception))
        with self.assertWarns(UnseenValueWarning) as w:
            preds = self.trainee.predict([{"island": "Biscoe"}, {"island": "Mars"}], ["species"])
        self.assertIn("row 1: island 'Mars'", str(w.warning))
        self.assertNotIn("unknown", preds[0])
        self.assertEqual(preds[1]["unknown"], [{"column": "island", "value": "Mars"}])

    def test_anomalies(self):
        top = self.trainee.anomalies(top=5)
        self.assertEqual(len(top), 5)
        conv = [a["conviction"] for a in top]
        self.assertEqual(conv, sorted(conv))
        self.assertTrue(all(0 <= a["case"] < 344 for a in top))
        normal = {"species": "Adelie", "island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
                  "flipper_length_mm": 181, "body_mass_g": 3750, "sex": "male"}
        odd = dict(normal, species="Gentoo", bill_length_mm=90.0, bill_depth_mm=2.0, flipper_length_mm=400,
                   body_mass_g=100)
        sparse = {"species": "Adelie", "island": "Torgersen"}  # the server leaves such rows out (see README)
        scored = self.trainee.anomalies(rows=[normal, odd, sparse])
        self.assertEqual([s["row"] for s in scored], [0, 1, 2])
        self.assertTrue(all(isinstance(s["conviction"], float) and s["conviction"] > 0 for s in scored[:2]))
        self.assertLess(scored[1]["conviction"], scored[0]["conviction"])
        self.assertGreater(scored[1]["distance_contribution"], scored[0]["distance_contribution"])
        with self.assertRaises(CohortError) as ctx:
            self.trainee.anomalies(top=0)
        self.assertCohortError(ctx, 400, "invalid", "top")

    def test_impute_rows_and_importance(self):
        rows = [{"species": "Gentoo", "island": "Biscoe", "bill_length_mm": 50.0, "sex": None},
                {"species": "Adelie", "island": None, "flipper_length_mm": 190}]
        out = self.trainee.impute_rows(rows)
        self.assertEqual(len(out), 2)
        self.assertIn(out[0]["sex"], ("male", "female"))
        self.assertIn(out[1]["island"], ("Torgersen", "Biscoe", "Dream"))
        self.assertEqual(out[0]["species"], "Gentoo")
        imp = self.trainee.importance("species", sample=200)
        self.assertEqual(set(imp), set(COLUMNS) - {"species"})
        self.assertTrue(all(isinstance(v, float) for v in imp.values()))
        with self.assertRaises(CohortError) as ctx:
            self.trainee.importance("nope")
        self.assertEqual((ctx.exception.status, ctx.exception.field, ctx.exception.code), (400, "target", "invalid"))

    def test_more_jobs_train_impute_events(self):
        t = self.client.create_trainee(self.ds, name="grows", wait=True)
        extra = self.client.upload_dataset(self.rows[:10], name="ten")
        job = t.train(extra)
        self.assertIsInstance(job, Job)
        self.assertEqual(job.wait().result["cases"], 354)
        imp = t.impute().wait()
        self.assertGreater(imp.result["filled"], 0)  # two penguins have no measurements, some no sex
        self.assertEqual(t.refresh().version, 3)
        events = list(imp.events())  # a finished job: one event, the final state
        self.assertEqual([(e.event, e.data["state"]) for e in events], [("job", "succeeded")])
        mine = t.jobs()
        self.assertEqual([j.kind for j in mine], ["impute", "train", "train"])
        self.assertEqual(self.client.job(job.id).state, "succeeded")
        self.assertEqual(self.client.wait_job(job.id).result["version"], 2)
        self.assertEqual(job.trainee().id, t.id)
        self.assertEqual([j.id for j in self.client.jobs(trainee=t, state="succeeded", limit=1)], [imp.id])
        with self.assertRaises(CohortError) as ctx:
            self.client.jobs(state="bogus")
        self.assertCohortError(ctx, 400, "invalid", "state")
        with self.assertRaises(CohortError) as ctx:
            job.cancel()
        self.assertCohortError(ctx, 409, "conflict")
        with self.assertRaises(CohortError) as ctx:
            t.train("ds_nope")
        self.assertCohortError(ctx, 400, "invalid", "dataset")
        t.delete()
        extra.delete()

    def test_export_import(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "penguins.cohort")
            self.assertEqual(self.trainee.export(path), path)
            by_path = self.client.import_trainee(path, name="from-path")
        blob = self.trainee.export()
        by_bytes = self.client.import_trainee(blob)
        by_file = self.client.import_trainee(io.BytesIO(blob), name="from-file")
        self.assertEqual((by_path.name, by_bytes.name, by_file.name), ("from-path", "imported", "from-file"))
        rows = without(self.rows[:30], "species")
        want = self.trainee.predict(rows, ["species"])
        for t in (by_path, by_bytes, by_file):
            self.assertTrue(t.ready)
            self.assertEqual((t.info["cases"], t.info["analyzed"]), (344, True))
            self.assertEqual(t.predict(rows, ["species"]), want)
            t.delete()
        with self.assertRaises(CohortError) as ctx:
            self.client.import_trainee(b"garbage")
        self.assertCohortError(ctx, 422, "invalid_trainee", "body")

    def test_synthesize_report_evaluate(self):
        seen = []
        job = self.trainee.synthesize(rows=60, seed=7)
        self.assertEqual((job.kind, job.params), ("synthesize", {"rows": 60, "seed": 7}))
        job.wait(progress=lambda j: seen.append((j.state, j.progress)))
        self.assertEqual(seen[-1], ("succeeded", 1.0))
        synth = job.dataset()
        self.assertEqual((synth.rows, synth.columns), (60, 7))
        self.assertEqual([f["name"] for f in synth.schema], COLUMNS)
        records = synth.records()
        self.assertEqual(len(records), 60)
        self.assertTrue({r["species"] for r in records} <= SPECIES)
        rep = job.report()
        self.assertIsInstance(rep, Report)
        q = rep.summary["quality"]
        self.assertTrue(0 <= q <= 1, q)
        self.assertEqual(rep.summary["synthetic_dataset"], synth.id)
        self.assertEqual(rep.evaluation["rows"]["synthetic"], 60)
        self.assertIn(rep.id, [r.id for r in self.client.reports(trainee=self.trainee)])
        self.assertIn(rep.id, [r.id for r in self.trainee.reports()])
        listed = [r for r in self.client.reports() if r.id == rep.id][0]
        self.assertAlmostEqual(listed.quality, q)
        self.assertNotIn("evaluation", listed.data)
        self.assertEqual(listed.evaluation, rep.evaluation)  # fetched on first use
        self.assertEqual((listed.trainee_id, listed.job_id), (self.trainee.id, job.id))
        html = rep.html()
        self.assertIn("<html", html.lower())

        ev = self.client.evaluate(self.ds, synth, target="species").wait()
        self.assertEqual(ev.kind, "evaluate")
        ev_rep = ev.report()
        self.assertTrue(0 <= ev_rep.quality <= 1)
        self.assertEqual(ev_rep.summary["real_dataset"], self.ds.id)
        self.assertEqual(ev_rep.delete(), {"deleted": ev_rep.id})
        with self.assertRaises(CohortError) as ctx:
            self.client.report(ev_rep.id)
        self.assertCohortError(ctx, 404, "not_found")
        with self.assertRaises(CohortError) as ctx:
            self.client.evaluate(self.ds, "ds_nope")
        self.assertCohortError(ctx, 400, "invalid", "synthetic")
        with self.assertRaises(CohortError) as ctx:
            self.trainee.synthesize(rows=0)
        self.assertCohortError(ctx, 400, "invalid", "rows")
        with self.assertRaises(CohortError) as ctx:
            self.trainee.synthesize(privacy="maybe")
        self.assertCohortError(ctx, 400, "invalid", "privacy")

    def test_map_predict(self):
        rows = without(self.rows, "species")
        whole = self.trainee.predict(rows, ["species", "sex"])
        calls = []
        real_predict = Client.predict

        def counting(client, *a, **kw):
            calls.append(threading.current_thread().name)
            return real_predict(client, *a, **kw)

        with mock.patch.object(Client, "predict", counting):
            chunked = self.client.map_predict(self.trainee, rows, ["species", "sex"], chunk_size=50, workers=4)
        self.assertEqual(len(calls), 7)  # 344 rows in chunks of 50
        self.assertEqual(chunked, whole)

    def test_map_synthesize(self):
        parts = self.client.map_synthesize(self.trainee, total_rows=130, chunk_rows=50, workers=3, seed=11)
        self.assertEqual([d.rows for d in parts], [50, 50, 30])
        self.assertEqual([d.job.params["seed"] for d in parts], [11, 12, 13])
        self.assertTrue(all(d.job.params["evaluate"] is False and d.job.result.get("report") is None for d in parts))
        first, second = parts[0].records(), parts[1].records()
        self.assertNotEqual(first, second)
        self.assertTrue({r["species"] for r in first + second} <= SPECIES)

    # pandas
    @unittest.skipIf(pd is None, "pandas is not installed")
    def test_pandas(self):
        df = pd.read_csv(PENGUINS)
        up = self.client.upload_dataset(df, name="frame")
        self.assertEqual((up.rows, up.columns), (344, 7))
        back = up.download(as_frame=True)
        self.assertEqual(back.shape, (344, 7))
        self.assertEqual(list(back.columns), COLUMNS)
        self.assertAlmostEqual(back["body_mass_g"].mean(), df["body_mass_g"].mean())
        prev = up.preview(rows=3, as_frame=True)
        self.assertEqual(prev.shape, (3, 7))
        self.assertEqual(prev["flipper_length_mm"].tolist(), [181, 186, 195])

        x = df.drop(columns=["species"]).iloc[100:160]
        pred = self.trainee.predict(x, ["species"], as_frame=True)
        self.assertEqual(list(pred.columns), ["species"])
        self.assertEqual(list(pred.index), list(x.index))
        self.assertGreater((pred["species"] == df["species"].iloc[100:160]).mean(), 0.9)
        as_dicts = self.trainee.predict(x, ["species"])
        self.assertEqual(pred["species"].tolist(), [p["values"]["species"] for p in as_dicts])
        mass = self.trainee.predict(x.drop(columns=["body_mass_g"]), ["body_mass_g"], as_frame=True)
        self.assertTrue(pd.api.types.is_numeric_dtype(mass["body_mass_g"]))

        chunked = self.client.map_predict(self.trainee, x, ["species"], chunk_size=7, workers=3, as_frame=True)
        self.assertTrue(chunked.equals(pred))

        holes = df.iloc[:4].copy()
        holes.loc[holes.index[0], "sex"] = None
        holes.loc[holes.index[1], "bill_depth_mm"] = float("nan")
        filled = self.trainee.impute_rows(holes, as_frame=True)
        self.assertEqual(list(filled.columns), COLUMNS)
        self.assertEqual(int(filled.iloc[:2][["sex", "bill_depth_mm"]].isna().sum().sum()), 0)
        self.assertTrue(pd.api.types.is_numeric_dtype(filled["bill_depth_mm"]))

        scores = self.trainee.anomalies(rows=df.iloc[:5], as_frame=True)  # row 3 has no measurements
        self.assertEqual(list(scores.index), list(range(5)))
        self.assertEqual(scores["row"].tolist(), list(range(5)))
        self.assertTrue((scores.drop(index=3)["conviction"] > 0).all())
        synth = self.client.map_synthesize(self.trainee, 40, 20, workers=2, as_frame=True)
        self.assertEqual(synth.shape, (40, 7))
        up.delete()


# ---------------------------------------------------------------------------- waiting and cancelling

# Job threads of a server started with --workers 1.
JOB_THREADS = int(os.environ.get("COHORT_TEST_ROLES_WORKERS", "3")) if os.environ.get("COHORT_TEST_ROLES") else 1


class WaitCancelTest(ServerCase):
    """One job thread: a large synthesis keeps it busy while the tests look at queued work."""

    extra_args = ("--workers", "1")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.ds = cls.client.upload_dataset(PENGUINS)
            cls.trainee = cls.client.create_trainee(cls.ds, wait=True)
            # A trainee runs one job at a time: the other job threads need trainees of their own.
            cls.spares = [cls.client.create_trainee(cls.ds, wait=True) for _ in range(JOB_THREADS - 1)]
        except BaseException:
            cls.server.cleanup()
            raise

    def busy(self):
        """A synthesis that runs for many seconds unless cancelled (cancelled at test end); as many
        more as it takes to keep every job thread busy: one per worker when the server is a
        cluster of workers with one job thread each (tests/cluster/roles.py)."""
        job = self.trainee.synthesize(rows=1000000, evaluate=False, privacy="off")
        self.addCleanup(self._stop, job)
        jobs = [job]
        for spare in self.spares:
            more = spare.synthesize(rows=1000000, evaluate=False, privacy="off")
            self.addCleanup(self._stop, more)
            jobs.append(more)
        # The tests below need every job thread taken: wait until each blocker runs.
        deadline = time.monotonic() + 60
        while not all(j.refresh().state == "running" for j in jobs):
            ended = [(j.id, j.state, j.error) for j in jobs if j.done]
            self.assertEqual(ended, [], "a blocker ended before the test could use it")
            self.assertLess(time.monotonic(), deadline, [(j.id, j.state) for j in jobs])
            time.sleep(0.05)
        return job

    def _stop(self, job):
        try:
            job.cancel()
        except CohortError:
            pass
        job.wait(timeout=30, raise_on_failure=False)

    def test_wait_timeout_queued_trainee_and_cancel(self):
        blocker = self.busy()
        t0 = time.monotonic()
        with self.assertRaises(WaitTimeoutError) as ctx:
            blocker.wait(timeout=0.3)
        self.assertIsInstance(ctx.exception, TimeoutError)
        self.assertIs(ctx.exception.resource, blocker)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn(blocker.state, ("queued", "running"))

        with mock.patch.dict(os.environ, {"COHORT_WAIT_TIMEOUT": "0.2"}):
            short = Client(self.server.url, token=self.token)
        self.assertEqual(short.wait_timeout, 0.2)
        with self.assertRaises(WaitTimeoutError):
            short.job(blocker.id).wait()

        queued = self.client.create_trainee(self.ds, name="queued")  # waits behind the blocker
        self.assertEqual((queued.version, queued.ready, queued.job.state), (0, False, "queued"))
        with self.assertRaises(WaitTimeoutError) as ctx:
            queued.wait_ready(timeout=0.2)
        self.assertIs(ctx.exception.resource, queued)
        bare = Trainee(self.client, {"id": queued.id})  # without its train job: polls the trainee
        with self.assertRaises(WaitTimeoutError) as ctx:
            bare.wait_ready(timeout=0.2)
        self.assertIs(ctx.exception.resource, bare)
        self.assertEqual(bare.name, "queued")
        with self.assertRaises(CohortError) as ctx:
            queued.analyze()
        self.assertCohortError(ctx, 409, "conflict")
        with self.assertRaises(CohortError) as ctx:
            queued.export()
        self.assertCohortError(ctx, 409, "conflict")
        cancelled = queued.job.cancel()  # a queued job ends at once
        self.assertEqual(cancelled.state, "cancelled")
        with self.assertRaises(JobFailedError) as ctx:
            queued.job.wait()
        self.assertEqual(ctx.exception.code, "job_cancelled")

        blocker.cancel()
        self.assertTrue(blocker.data["cancel_requested"] or blocker.state == "cancelled")
        done = blocker.wait(timeout=30, raise_on_failure=False)
        self.assertEqual((done.state, done.error), ("cancelled", "cancelled"))
        with self.assertRaises(CohortError) as ctx:
            blocker.cancel()
        self.assertCohortError(ctx, 409, "conflict")

    def test_live_events(self):
        blocker = self.busy()
        states, asked = [], False
        for ev in blocker.events():
            self.assertEqual(ev.event, "job")
            states.append(ev.data["state"])
            if ev.data["state"] == "running" and not asked and len(states) >= 2:
                asked = True
                self.assertEqual(self.client.cancel_job(blocker).data["cancel_requested"], True)
            self.assertLess(len(states), 500)
        self.assertEqual(states[-1], "cancelled")
        self.assertIn("running", states)
        self.assertEqual(blocker.state, "cancelled")  # events() keeps the Job up to date


if __name__ == "__main__":
    unittest.main()
