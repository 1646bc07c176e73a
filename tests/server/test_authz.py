"""Authorization matrix: every route x {anonymous, another workspace's owner, viewer, editor,
owner, administrator}. The expected rule of each route is written here by hand; the test fails
if the server documents a route (GET /v1/openapi.json) that the matrix does not cover.

Allowed means the server did not refuse: not 401/403, and for workspace-bound routes not 404
(non-members get 404 so ids cannot be probed). Destructive routes run last, least privileged
caller first, and stop at the first caller allowed.
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import CohortServer, settle  # noqa: E402

BIN = os.environ.get("COHORT_BIN", os.path.join(ROOT, "build", "cohort"))
PENGUINS = os.path.join(ROOT, "tests", "data", "penguins.csv")

# scope: pub | user | admin | ws (workspace-bound, with the least role that may call it)
RULES = {
    ("GET", "/healthz"): ("pub", None),
    ("GET", "/readyz"): ("pub", None),
    ("GET", "/metrics"): ("pub", None),
    ("GET", "/v1/openapi.json"): ("pub", None),
    ("GET", "/"): ("pub", None),
    ("GET", "/ui/{file}"): ("pub", None),
    ("POST", "/v1/auth/login"): ("pub", None),
    ("POST", "/v1/auth/logout"): ("user", None),
    ("GET", "/v1/me"): ("user", None),
    ("PUT", "/v1/me/password"): ("user", None),
    ("GET", "/v1/tokens"): ("user", None),
    ("POST", "/v1/tokens"): ("user", None),
    ("DELETE", "/v1/tokens/{id}"): ("user", None),
    ("GET", "/v1/users"): ("admin", None),
    ("POST", "/v1/users"): ("admin", None),
    ("GET", "/v1/workspaces"): ("user", None),
    ("POST", "/v1/workspaces"): ("user", None),
    ("GET", "/v1/workspaces/{id}"): ("ws", "viewer"),
    ("DELETE", "/v1/workspaces/{id}"): ("ws", "owner"),
    ("PUT", "/v1/workspaces/{id}/members/{user}"): ("ws", "owner"),
    ("GET", "/v1/datasets"): ("ws", "viewer"),
    ("POST", "/v1/datasets"): ("ws", "editor"),
    ("GET", "/v1/datasets/{id}"): ("ws", "viewer"),
    ("GET", "/v1/datasets/{id}/preview"): ("ws", "viewer"),
    ("GET", "/v1/datasets/{id}/download"): ("ws", "viewer"),
    ("DELETE", "/v1/datasets/{id}"): ("ws", "editor"),
    ("GET", "/v1/trainees"): ("ws", "viewer"),
    ("POST", "/v1/trainees"): ("ws", "editor"),
    ("POST", "/v1/trainees/import"): ("ws", "editor"),
    ("GET", "/v1/trainees/{id}"): ("ws", "viewer"),
    ("DELETE", "/v1/trainees/{id}"): ("ws", "editor"),
    ("GET", "/v1/trainees/{id}/export"): ("ws", "viewer"),
    ("POST", "/v1/trainees/{id}/train"): ("ws", "editor"),
    ("POST", "/v1/trainees/{id}/analyze"): ("ws", "editor"),
    ("POST", "/v1/trainees/{id}/impute"): ("ws", "editor"),
    ("POST", "/v1/trainees/{id}/synthesize"): ("ws", "editor"),
    ("POST", "/v1/trainees/{id}/predict"): ("ws", "viewer"),
    ("POST", "/v1/trainees/{id}/anomalies"): ("ws", "viewer"),
    ("POST", "/v1/trainees/{id}/impute-rows"): ("ws", "viewer"),
    ("GET", "/v1/trainees/{id}/importance"): ("ws", "viewer"),
    ("GET", "/v1/jobs"): ("ws", "viewer"),
    ("GET", "/v1/jobs/{id}"): ("ws", "viewer"),
    ("GET", "/v1/jobs/{id}/events"): ("ws", "viewer"),
    ("POST", "/v1/jobs/{id}/cancel"): ("ws", "editor"),
    ("POST", "/v1/evaluate"): ("ws", "editor"),
    ("GET", "/v1/reports"): ("ws", "viewer"),
    ("GET", "/v1/reports/{id}"): ("ws", "viewer"),
    ("GET", "/v1/reports/{id}/html"): ("ws", "viewer"),
    ("DELETE", "/v1/reports/{id}"): ("ws", "editor"),
}
DESTRUCTIVE = [("DELETE", "/v1/reports/{id}"), ("DELETE", "/v1/trainees/{id}"), ("DELETE", "/v1/datasets/{id}"),
               ("DELETE", "/v1/workspaces/{id}")]
RANK = {"viewer": 1, "editor": 2, "owner": 3}
CALLERS = ["anonymous", "outsider", "viewer", "editor", "owner", "admin"]
PASSWORDS = {name: name + "-password-1" for name in ("olga", "vera", "ed", "owen")}


class AuthzMatrixTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        srv = cls.srv = CohortServer(BIN).start()
        admin = srv.token()
        for name, pw in PASSWORDS.items():
            st, body, _ = srv.request("POST", "/v1/users", {"name": name, "password": pw}, token=admin)
            assert st == 201, body
        cls.tokens = {"anonymous": None, "admin": admin, "outsider": srv.token("olga", PASSWORDS["olga"]),
                      "viewer": srv.token("vera", PASSWORDS["vera"]), "editor": srv.token("ed", PASSWORDS["ed"]),
                      "owner": srv.token("owen", PASSWORDS["owen"])}
        owner = cls.tokens["owner"]
        st, ws, _ = srv.request("POST", "/v1/workspaces", {"name": "team"}, token=owner)
        cls.ws = ws["id"]
        st, ws, _ = srv.request("POST", "/v1/workspaces", {"name": "olga's"}, token=cls.tokens["outsider"])
        cls.olgas_ws = ws["id"]
        cls.ids = {name: srv.request("GET", "/v1/me", token=cls.tokens[caller])[1]["id"]
                   for name, caller in (("olga", "outsider"), ("vera", "viewer"), ("ed", "editor"), ("owen", "owner"))}
        for user, role in (("vera", "viewer"), ("ed", "editor")):
            # A new colleague is added by the user id they hand out: a name would reveal who exists.
            st, body, _ = srv.request("PUT", "/v1/workspaces/%s/members/%s" % (cls.ws, cls.ids[user]),
                                      {"role": role}, token=owner)
            assert st == 200, body
        with open(PENGUINS, "rb") as f:
            cls.csv = f.read()
        st, ds, _ = srv.request("POST", "/v1/datasets?name=p&workspace=" + cls.ws, cls.csv, token=owner)
        cls.ds = ds["id"]
        st, body, _ = srv.request("POST", "/v1/trainees", {"workspace": cls.ws, "name": "p", "dataset": cls.ds},
                                  token=owner)
        cls.tr = body["trainee"]["id"]
        cls.job = body["job"]["id"]
        assert srv.wait_job(cls.job, owner)["state"] == "succeeded"
        st, body, _ = srv.request("POST", "/v1/trainees/%s/synthesize" % cls.tr, {"rows": 30, "privacy": "local"},
                                  token=owner)
        job = srv.wait_job(body["job"]["id"], owner)
        cls.report = job["result"]["report"]
        st, cls.trainee_file, _ = srv.request("GET", "/v1/trainees/%s/export" % cls.tr, token=owner, raw=True)

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.srv.cleanup()
        assert rc == 0, "\n".join(cls.srv.log_lines[-30:])

    def call(self, method, pattern, caller):
        scope = RULES[(method, pattern)][0]
        ids = {"/v1/datasets/": self.ds, "/v1/trainees/": self.tr, "/v1/jobs/": self.job,
               "/v1/reports/": self.report, "/v1/workspaces/": self.ws, "/v1/tokens/": "tok_not_there"}
        path = pattern
        for prefix, value in ids.items():
            if pattern.startswith(prefix + "{id}"):
                path = pattern.replace("{id}", value, 1)
        path = path.replace("{user}", "vera").replace("{file}", "app.js")
        body = {
            "/v1/auth/login": {"username": "vera", "password": PASSWORDS["vera"]},
            "/v1/tokens": {"name": "m"},
            "/v1/users": {"name": "u-" + caller, "password": "long-enough-1"},
            "/v1/workspaces": {"name": "w"},
            "/v1/trainees": {"name": "m", "dataset": self.ds},
            "/v1/evaluate": {"real": self.ds, "synthetic": self.ds},
        }.get(pattern)
        if pattern == "/v1/me/password":
            pw = PASSWORDS.get({"outsider": "olga", "viewer": "vera", "editor": "ed", "owner": "owen"}.get(caller),
                               self.srv.admin_password)
            body = {"current": pw, "password": pw, "keep_tokens": True}  # the callers' tokens serve the next routes
        elif pattern.endswith("/members/{user}"):
            body = {"role": "viewer"}
        elif pattern in ("/v1/datasets", "/v1/trainees/import") and method == "POST":
            body = self.csv if pattern == "/v1/datasets" else self.trainee_file
        elif pattern.endswith("/train"):
            body = {"dataset": self.ds}
        elif pattern.endswith("/synthesize"):
            body = {"rows": 10, "privacy": "local", "evaluate": False}
        elif pattern.endswith("/predict"):
            body = {"targets": ["species"], "rows": [{"island": "Biscoe"}]}
        elif pattern.endswith("/impute-rows"):
            body = {"rows": [{"island": "Biscoe", "species": None}]}
        elif method in ("POST", "PUT") and body is None:
            body = {}
        if pattern.endswith("/importance"):
            path += "?target=species&sample=20"
        if scope == "ws" and not pattern.startswith(("/v1/workspaces/", "/v1/datasets/", "/v1/trainees/",
                                                    "/v1/jobs/", "/v1/reports/")):
            path += ("&" if "?" in path else "?") + "workspace=" + self.ws
        elif pattern == "/v1/trainees/import":
            path += "?workspace=" + self.ws
        st, resp, _ = self.srv.request(method, path, body, token=self.tokens[caller], raw=True)
        return st, resp

    def expect_allowed(self, method, pattern, caller):
        scope, role = RULES[(method, pattern)]
        if scope == "pub":
            return True
        if caller == "anonymous":
            return False
        if scope == "user":
            return True
        if scope == "admin":
            return caller == "admin"
        if caller in ("admin", "owner"):
            return True
        if caller == "outsider":
            return False
        return RANK[caller] >= RANK[role]

    def check(self, method, pattern, caller):
        allowed = self.expect_allowed(method, pattern, caller)
        st, resp = self.call(method, pattern, caller)
        scope = RULES[(method, pattern)][0]
        where = "%s %s as %s: %s %s" % (method, pattern, caller, st, resp[:200])
        self.assertLess(st, 500, where)
        if allowed:
            refused = st in (401, 403) or (scope == "ws" and st == 404)
            self.assertFalse(refused, "expected allowed: " + where)
        elif caller == "anonymous":
            self.assertEqual(st, 401, where)
        elif caller == "outsider" and scope == "ws":
            self.assertEqual(st, 404, where)
        else:
            self.assertEqual(st, 403, where)
        return allowed

    def test_matrix_covers_every_documented_route(self):
        st, doc, _ = self.srv.request("GET", "/v1/openapi.json")
        self.assertEqual(st, 200)
        documented = {(m.upper(), p) for p, ops in doc.get("paths", {}).items() for m in ops
                      if m in ("get", "post", "put", "delete", "patch")}
        missing = documented - set(RULES)
        self.assertFalse(missing, "routes without an authorization rule in this test: %s" % sorted(missing))

    def test_adding_members_reveals_no_accounts(self):
        """A non-administrator gets the same 404 for a name with no account as for the name of someone
        they share no workspace with; a user id (handed out by its owner) or a shared workspace works."""
        olga = self.tokens["outsider"]
        path = "/v1/workspaces/%s/members/" % self.olgas_ws
        answers = []
        for name in ("owen", "Owen", "no-such-user"):
            st, body, _ = self.srv.request("PUT", path + name, {"role": "viewer"}, token=olga)
            answers.append((st, body["error"]["code"], body["error"]["message"].replace(name, "NAME")))
        self.assertEqual(answers[0][0], 404, answers)
        self.assertEqual(len(set(answers)), 1, answers)
        self.assertNotIn("owen", [m["user_name"] for m in self.srv.request("GET", "/v1/workspaces/" + self.olgas_ws,
                                                                         token=olga)[1]["members"]])
        # By id: added, and removed again.
        for role in ("viewer", "none"):
            st, body, _ = self.srv.request("PUT", path + self.ids["owen"], {"role": role}, token=olga)
            self.assertEqual((st, body["role"]), (200, role), body)
        # Someone already in a shared workspace can be named (any case); an administrator may name anyone.
        st, body, _ = self.srv.request("PUT", "/v1/workspaces/%s/members/VERA" % self.ws, {"role": "viewer"},
                                       token=self.tokens["owner"])
        self.assertEqual((st, body["user"]), (200, "vera"), body)
        st, body, _ = self.srv.request("PUT", path + "owen", {"role": "viewer"}, token=self.tokens["admin"])
        self.assertEqual(st, 200, body)
        st, body, _ = self.srv.request("PUT", path + "owen", {"role": "none"}, token=olga)  # now shared
        self.assertEqual(st, 200, body)
        st, body, _ = self.srv.request("PUT", path + "no-such-user", {"role": "viewer"}, token=self.tokens["admin"])
        self.assertEqual((st, body["error"]["message"]), (404, "user 'no-such-user' not found"), body)

    def test_matrix(self):
        checked = 0
        for (method, pattern) in RULES:
            if (method, pattern) in DESTRUCTIVE:
                continue
            for caller in CALLERS:
                with self.subTest(route="%s %s" % (method, pattern), caller=caller):
                    self.check(method, pattern, caller)
                    checked += 1
        for (method, pattern) in DESTRUCTIVE:  # least privileged first; stop once one succeeds
            for caller in CALLERS:
                with self.subTest(route="%s %s" % (method, pattern), caller=caller):
                    if self.check(method, pattern, caller):
                        break
                    checked += 1
        self.assertGreater(checked, 250)



class CachedAccessTest(unittest.TestCase):
    """The auth cache (auth_cache_s) keeps a caller's token, session, membership and the trainee's
    record between requests. Here it is an hour long, so only this process's invalidation can
    explain a refusal: a revocation, password change, sign-out, membership removal or trainee
    deletion made through this process refuses the very next request."""

    @classmethod
    def setUpClass(cls):
        srv = cls.srv = CohortServer(BIN, extra_args=["--auth_cache_s", "3600"]).start()
        cls.admin = srv.token()
        st, body, _ = srv.request("POST", "/v1/users", {"name": "vera", "password": PASSWORDS["vera"]},
                                  token=cls.admin)
        assert st == 201, body
        st, ws, _ = srv.request("POST", "/v1/workspaces", {"name": "cached"}, token=cls.admin)
        cls.ws = ws["id"]
        with open(PENGUINS, "rb") as f:
            st, ds, _ = srv.request("POST", "/v1/datasets?name=p&workspace=" + cls.ws, f.read(), token=cls.admin)
        cls.ds = ds["id"]

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.srv.cleanup()
        assert rc == 0, "\n".join(cls.srv.log_lines[-30:])

    def trainee(self, name):
        st, body, _ = self.srv.request("POST", "/v1/trainees", {"workspace": self.ws, "name": name, "dataset": self.ds},
                                       token=self.admin)
        self.assertEqual(st, 202, body)
        self.assertEqual(self.srv.wait_job(body["job"]["id"], self.admin)["state"], "succeeded")
        return body["trainee"]["id"]

    def predict(self, tr, **kw):
        return self.srv.request("POST", "/v1/trainees/%s/predict" % tr,
                                {"targets": ["species"], "rows": [{"island": "Biscoe"}]}, **kw)

    def member(self, role):
        st, body, _ = self.srv.request("PUT", "/v1/workspaces/%s/members/vera" % self.ws, {"role": role},
                                       token=self.admin)
        self.assertEqual(st, 200, body)
        settle()

    def test_membership_removal_and_change(self):
        tr = self.trainee("m")
        self.member("editor")
        vera = self.srv.token("vera", PASSWORDS["vera"], name="m")
        for _ in range(3):  # the second and third are answered from the cache
            self.assertEqual(self.predict(tr, token=vera)[0], 200)
        self.assertEqual(self.srv.request("GET", "/v1/workspaces/" + self.ws, token=vera)[0], 200)
        self.member("viewer")  # an editor's route is refused at once, a viewer's still allowed
        st, body, _ = self.srv.request("POST", "/v1/trainees/%s/analyze" % tr, {}, token=vera)
        self.assertEqual(st, 403, body)
        self.assertEqual(self.predict(tr, token=vera)[0], 200)
        self.member("none")
        self.assertEqual(self.predict(tr, token=vera)[0], 404)
        self.assertEqual(self.srv.request("GET", "/v1/workspaces/" + self.ws, token=vera)[0], 404)
        self.member("viewer")  # and back: a refusal was not kept either
        self.assertEqual(self.predict(tr, token=vera)[0], 200)

    def test_token_revocation_and_sign_out(self):
        tr = self.trainee("t")
        self.member("viewer")
        opener, csrf = self.srv.login("vera", PASSWORDS["vera"])
        st, tok, _ = self.srv.request("POST", "/v1/tokens", {"name": "r"}, opener=opener,
                                      headers={"X-CSRF-Token": csrf})
        self.assertEqual(st, 201, tok)
        for _ in range(2):
            self.assertEqual(self.predict(tr, token=tok["token"])[0], 200)
            self.assertEqual(self.srv.request("GET", "/v1/me", opener=opener)[0], 200)
        st, body, _ = self.srv.request("DELETE", "/v1/tokens/" + tok["id"], opener=opener,
                                       headers={"X-CSRF-Token": csrf})
        self.assertEqual(st, 200, body)
        settle()
        self.assertEqual(self.predict(tr, token=tok["token"])[0], 401)
        jar = next(h.cookiejar for h in opener.handlers if hasattr(h, "cookiejar"))
        cookie = {"Cookie": "cohort_session=" + next(c.value for c in jar if c.name == "cohort_session")}
        self.assertEqual(self.srv.request("GET", "/v1/me", headers=cookie)[0], 200)
        self.assertEqual(self.srv.request("POST", "/v1/auth/logout", {}, opener=opener,
                                          headers={"X-CSRF-Token": csrf})[0], 200)
        settle()
        # The browser drops the cookie on sign-out; a copy of it must be refused at once too.
        self.assertEqual(self.srv.request("GET", "/v1/me", headers=cookie)[0], 401)

    def test_password_change_refuses_old_credentials_at_once(self):
        self.member("viewer")
        pw = PASSWORDS["vera"]
        tok = self.srv.token("vera", pw, name="p")
        other, _ = self.srv.login("vera", pw)
        for _ in range(2):
            self.assertEqual(self.srv.request("GET", "/v1/me", token=tok)[0], 200)
            self.assertEqual(self.srv.request("GET", "/v1/me", opener=other)[0], 200)
        st, body, _ = self.srv.request("PUT", "/v1/me/password", {"current": pw, "password": pw + "-new"}, token=tok)
        self.assertEqual(st, 200, body)
        settle()
        self.assertEqual(self.srv.request("GET", "/v1/me", token=tok)[0], 401)
        self.assertEqual(self.srv.request("GET", "/v1/me", opener=other)[0], 401)
        st, body, _ = self.srv.request("PUT", "/v1/me/password", {"current": pw + "-new", "password": pw},
                                       token=self.srv.token("vera", pw + "-new", name="back"))
        self.assertEqual(st, 200, body)

    def test_trainee_deletion_and_new_versions(self):
        tr = self.trainee("d")
        st, first, _ = self.predict(tr, token=self.admin)
        self.assertEqual(st, 200, first)
        self.assertEqual(self.predict(tr, token=self.admin)[1]["version"], first["version"])
        st, body, _ = self.srv.request("POST", "/v1/trainees/%s/analyze" % tr, {}, token=self.admin)
        self.assertEqual(st, 202, body)
        self.assertEqual(self.srv.wait_job(body["job"]["id"], self.admin)["state"], "succeeded")
        st, after, _ = self.predict(tr, token=self.admin)
        self.assertEqual((st, after["version"]), (200, first["version"] + 1), after)
        self.assertEqual(self.srv.request("DELETE", "/v1/trainees/" + tr, token=self.admin)[0], 200)
        settle()
        self.assertEqual(self.predict(tr, token=self.admin)[0], 404)


if __name__ == "__main__":
    unittest.main()
