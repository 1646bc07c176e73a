"""Sign-in hardening (issue 12): throttled password checks, backoff per account and per client,
/healthz answering during a storm of sign-ins. A real `cohort serve` per test on 127.0.0.1;
every loop is bounded in count and time."""
import json
import os
import re
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import CohortServer, settle  # noqa: E402

BIN = os.environ.get("COHORT_BIN", os.path.join(ROOT, "build", "cohort"))


def login(srv, user, password, headers=None):
    return srv.request("POST", "/v1/auth/login", {"username": user, "password": password}, headers=headers)


def rss_mb(srv):
    st, body, _ = srv.request("GET", "/metrics")
    return int(re.search(rb"process_resident_memory_bytes (\d+)", body).group(1)) / 2**20


class BackoffTest(unittest.TestCase):
    ARGS = ["--login_free_failures", "3", "--login_backoff_max_s", "4"]

    def assertRetry(self, resp, code):
        st, body, headers = resp
        self.assertEqual(st, 429, body)
        self.assertEqual(body["error"]["code"], code)
        self.assertGreaterEqual(int(headers["Retry-After"]), 1)
        return int(headers["Retry-After"])

    def test_account_backoff_then_recovery(self):
        # Before: 30 wrong passwords then the right one were all answered (401 x 30, 200).
        with CohortServer(BIN, extra_args=self.ARGS) as srv:
            for _ in range(3):
                self.assertEqual(login(srv, "admin", "wrong-password")[0], 401)
            self.assertEqual(login(srv, "admin", "wrong-password")[0], 401)  # 4th: starts a 1 s block
            t0 = time.time()
            wait = self.assertRetry(login(srv, "admin", srv.admin_password), "too_many_attempts")
            self.assertLess(time.time() - t0, 0.5, "a blocked guess must not cost a password check")
            time.sleep(wait + 0.1)
            self.assertEqual(login(srv, "admin", srv.admin_password)[0], 200)
            # The block doubles with each further failure and is capped by login_backoff_max_s.
            for expect in (2, 4, 4):
                self.assertEqual(login(srv, "admin", "wrong-password")[0], 401)
                self.assertEqual(self.assertRetry(login(srv, "admin", "x-password"), "too_many_attempts"), expect)
                time.sleep(expect + 0.1)

    def test_client_backoff_across_accounts(self):
        # Spraying one password over many names is blocked by the client's count, names that
        # exist or not alike (the answer does not tell them apart).
        with CohortServer(BIN, extra_args=self.ARGS) as srv:
            statuses = [login(srv, "nobody%d" % i, "password-1")[0] for i in range(5)]
            self.assertEqual(statuses[:4], [401] * 4)
            self.assertEqual(statuses[4], 429)
            self.assertRetry(login(srv, "admin", srv.admin_password), "too_many_attempts")

    def test_password_change_counts_as_a_guess(self):
        with CohortServer(BIN, extra_args=self.ARGS) as srv:
            tok = srv.token()
            for _ in range(4):
                st, body, _ = srv.request("PUT", "/v1/me/password", {"current": "wrong-password", "password": "new-password-1"},
                                          token=tok)
                self.assertEqual(st, 403, body)
            st, body, h = srv.request("PUT", "/v1/me/password", {"current": srv.admin_password, "password": "new-password-1"},
                                      token=tok)
            self.assertEqual(st, 429, body)


class TrustedProxyTest(unittest.TestCase):
    """Behind a load balancer every client has the balancer's address: with trusted_proxies the
    per-client backoff keys on the address the proxy forwards for (X-Forwarded-For), and only
    entries a trusted hop appended are believed. Under tests/cluster/roles.py HAProxy appends
    its own line; the walk from the right gives the same client."""
    ARGS = BackoffTest.ARGS

    def spray(self, srv, n, xff, prefix):
        return [login(srv, "%s%d" % (prefix, i), "password-1", headers={"X-Forwarded-For": xff} if xff else None)[0]
                for i in range(n)]

    def test_forwarded_client_from_trusted_proxy(self):
        with CohortServer(BIN, extra_args=self.ARGS + ["--trusted_proxies", "10.1.0.0/16, 127.0.0.1"]) as srv:
            self.assertEqual(self.spray(srv, 4, "203.0.113.7", "a"), [401] * 4)
            # The same client behind the proxy is blocked, also when it prepends made-up hops.
            self.assertEqual(self.spray(srv, 1, "203.0.113.7", "b"), [429])
            self.assertEqual(self.spray(srv, 1, "198.51.100.1, 203.0.113.7", "c"), [429])
            self.assertEqual(self.spray(srv, 1, "198.51.100.1, 203.0.113.7:5555", "c"), [429])
            # A trusted hop in between (10.1.x) is skipped; the client before it counts.
            self.assertEqual(self.spray(srv, 1, "203.0.113.7, 10.1.2.3", "d"), [429])
            # Another client, and the proxy's own requests, are not.
            self.assertEqual(self.spray(srv, 1, "203.0.113.8", "e"), [401])
            self.assertEqual(self.spray(srv, 1, "2001:db8::1", "f"), [401])
            self.assertEqual(self.spray(srv, 1, None, "g"), [401])
            # The request log names the forwarded client.
            deadline = time.time() + 10
            while time.time() < deadline and not self.logged(srv, "203.0.113.8"):
                time.sleep(0.1)
            self.assertTrue(self.logged(srv, "203.0.113.8"), srv.log_lines[-5:])

    @staticmethod
    def logged(srv, client):
        for line in list(srv.log_lines):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and rec.get("msg") == "request" and rec.get("client") == client:
                return True
        return False

    def test_account_count_ignores_case(self):
        # Sign-in finds "admin" as "ADMIN" too, so every spelling counts against one account;
        # each guess comes from another client so that only the account's count can block.
        with CohortServer(BIN, extra_args=self.ARGS + ["--trusted_proxies", "127.0.0.1"]) as srv:
            for i, name in enumerate(["admin", "ADMIN", "Admin", "aDmIn"]):
                st = login(srv, name, "wrong-password", headers={"X-Forwarded-For": "198.51.100.%d" % i})[0]
                self.assertEqual(st, 401)
            st, body, _ = login(srv, "ADMIN", srv.admin_password, headers={"X-Forwarded-For": "198.51.100.9"})
            self.assertEqual((st, body["error"]["code"]), (429, "too_many_attempts"), body)

    def test_forwarded_for_ignored_from_untrusted_peer(self):
        # 127.0.0.1 is not trusted here (this overrides the cluster's setting), so made-up
        # headers do not let one client spread its guesses over many addresses.
        with CohortServer(BIN, extra_args=self.ARGS + ["--trusted_proxies", "10.9.9.9"]) as srv:
            statuses = [self.spray(srv, 1, "203.0.113.%d" % i, "h%d-" % i)[0] for i in range(5)]
            self.assertEqual(statuses, [401] * 4 + [429])

    def test_bad_setting_refused(self):
        srv = CohortServer(BIN, extra_args=["--trusted_proxies", "10.0.0.0/33"])
        try:
            with self.assertRaises(RuntimeError):
                srv.start()
            self.assertTrue(any("trusted_proxies: '10.0.0.0/33'" in line for line in srv.log_lines),
                            srv.log_lines[-5:])
        finally:
            srv.cleanup()


class StormTest(unittest.TestCase):
    def test_parallel_bad_logins_bounded_and_health_answers(self):
        # Before: 16 parallel bad logins ran ~13 guesses/s, /healthz took 0.6-1.8 s and RSS
        # reached 238 MB (Argon2id holds 64 MiB per check). Backoff is off here so that only the
        # concurrency gate is tested.
        with CohortServer(BIN, extra_args=["--login_free_failures", "1000"]) as srv:
            base = rss_mb(srv)
            results, health, peak = [], [], [base]
            stop = threading.Event()

            def guesser(i):
                for k in range(4):
                    st, body, h = login(srv, "user%d" % i, "guess-%d-%d" % (i, k))
                    results.append((st, h.get("Retry-After")))

            def prober():
                deadline = time.time() + 60
                while not stop.is_set() and time.time() < deadline:
                    t0 = time.time()
                    st, _, _ = srv.request("GET", "/healthz")
                    health.append((st, time.time() - t0))
                    peak.append(rss_mb(srv))
                    time.sleep(0.05)

            probe = threading.Thread(target=prober)
            probe.start()
            threads = [threading.Thread(target=guesser, args=(i,)) for i in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            stop.set()
            probe.join(10)
            self.assertEqual(len(results), 64)
            self.assertTrue(all(st in (401, 429) for st, _ in results), results)
            self.assertTrue(all(ra for st, ra in results if st == 429))
            self.assertGreater(sum(st == 401 for st, _ in results), 0)
            self.assertGreater(len(health), 3)
            self.assertTrue(all(st == 200 for st, _ in health))
            slowest = max(t for _, t in health)
            self.assertLess(slowest, 0.5, "healthz took %.2f s during the storm" % slowest)
            self.assertLess(max(peak) - base, 200, "RSS grew %.0f MB" % (max(peak) - base))
            print("\nstorm: %d x 401, %d x 429, healthz max %.3f s, RSS %.0f -> peak %.0f MB"
                  % (sum(st == 401 for st, _ in results), sum(st == 429 for st, _ in results), slowest, base,
                     max(peak)), file=sys.stderr)


class LoginCsrfTest(unittest.TestCase):
    """Before: a cross-site <form enctype="text/plain"> posting JSON to /v1/auth/login signed the
    victim in as the attacker (JSON routes took text/plain; sign-in checked no Origin)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = CohortServer(BIN).start()
        cls.body = ('{"username":"admin","password":"%s"}' % cls.srv.admin_password).encode()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def post(self, headers, path="/v1/auth/login", body=None, **kw):
        return self.srv.request("POST", path, self.body if body is None else body, headers=headers, **kw)

    def assertErr(self, resp, status, code):
        st, body, _ = resp
        self.assertEqual(st, status, body)
        self.assertEqual(body["error"]["code"], code)

    def test_json_routes_refuse_other_types(self):
        self.assertErr(self.post({"Content-Type": "text/plain"}), 415, "unsupported_media_type")
        self.assertErr(self.post({"Content-Type": "application/x-www-form-urlencoded"}), 415, "unsupported_media_type")
        self.assertErr(self.post({"Content-Type": "multipart/form-data; boundary=x"}), 415, "unsupported_media_type")
        self.assertErr(self.post({"Content-Type": "application/jsonx"}), 415, "unsupported_media_type")
        tok = self.srv.token()
        self.assertErr(self.post({"Content-Type": "text/plain"}, "/v1/tokens", b'{"name":"t"}', token=tok), 415,
                       "unsupported_media_type")
        self.assertEqual(self.post({"Content-Type": "Application/JSON; charset=utf-8"})[0], 200)
        # A body-less POST needs no type (clients send none, or urllib's form default).
        self.assertEqual(self.srv.request("POST", "/v1/auth/logout", b"", token=tok,
                                          headers={"Content-Type": "application/x-www-form-urlencoded"})[0], 200)

    def test_sign_in_checks_where_it_comes_from(self):
        js = {"Content-Type": "application/json"}
        host = self.srv.url.split("://", 1)[1]
        self.assertErr(self.post(dict(js, **{"Sec-Fetch-Site": "cross-site"})), 403, "cross_origin")
        self.assertErr(self.post(dict(js, **{"Sec-Fetch-Site": "same-site"})), 403, "cross_origin")
        self.assertErr(self.post(dict(js, Origin="http://evil.example")), 403, "cross_origin")
        self.assertErr(self.post(dict(js, Origin="null")), 403, "cross_origin")
        self.assertEqual(self.post(dict(js, Origin="http://" + host))[0], 200)
        self.assertEqual(self.post(dict(js, **{"Sec-Fetch-Site": "same-origin", "Origin": "http://" + host}))[0], 200)
        # Behind a proxy that rewrites Host, the browser's Sec-Fetch-Site still vouches.
        self.assertEqual(self.post(dict(js, **{"Sec-Fetch-Site": "same-origin", "Origin": "https://cohort.example"}))[0],
                         200)
        self.assertEqual(self.post(dict(js, **{"Origin": "https://cohort.example", "X-Forwarded-Host": "cohort.example"}))[0],
                         200)
        self.assertEqual(self.post(js)[0], 200)  # scripts and the CLI send neither


class PasswordChangeTest(unittest.TestCase):
    """Before: after PUT /v1/me/password from one session, the user's other session and API token
    still answered 200, and tokens never expired by default."""

    def test_change_ends_other_sessions_and_tokens(self):
        with CohortServer(BIN, extra_args=["--token_ttl_days", "7"]) as srv:
            me = lambda **kw: srv.request("GET", "/v1/me", **kw)[0]
            a, csrf_a = srv.login()
            b, _ = srv.login()
            t1, t2 = srv.token(name="one"), srv.token(name="two")
            self.assertEqual((me(opener=a), me(opener=b), me(token=t1)), (200, 200, 200))
            st, body, _ = srv.request("PUT", "/v1/me/password", {"current": srv.admin_password, "password": "second-password"},
                                      opener=a, headers={"X-CSRF-Token": csrf_a})
            self.assertEqual(st, 200, body)
            # b, plus the two sessions srv.token() signed in with.
            self.assertEqual((body["changed"], body["sessions_ended"], body["tokens_revoked"]), (True, 3, 2))
            settle()
            self.assertEqual((me(opener=a), me(opener=b), me(token=t1), me(token=t2)), (200, 401, 401, 401))

            # keep_tokens keeps them; a change made with a token ends every session.
            t3 = srv.token(password="second-password", name="three")
            c, _ = srv.login(password="second-password")
            st, body, _ = srv.request("PUT", "/v1/me/password",
                                      {"current": "second-password", "password": "third-password", "keep_tokens": True},
                                      token=t3)
            self.assertEqual(st, 200, body)
            self.assertEqual(body["tokens_revoked"], 0)
            settle()
            self.assertEqual((me(token=t3), me(opener=c), me(opener=a)), (200, 401, 401))

    def test_tokens_expire_by_default(self):
        with CohortServer(BIN, extra_args=["--token_ttl_days", "7"]) as srv:
            opener, csrf = srv.login()
            hdr = {"X-CSRF-Token": csrf}
            now = time.time() * 1000
            st, tok, _ = srv.request("POST", "/v1/tokens", {"name": "d"}, opener=opener, headers=hdr)
            self.assertEqual(st, 201, tok)
            self.assertAlmostEqual(tok["expires_ms"] - now, 7 * 86400000, delta=60000)
            st, tok, _ = srv.request("POST", "/v1/tokens", {"name": "e", "ttl_days": 2}, opener=opener, headers=hdr)
            self.assertAlmostEqual(tok["expires_ms"] - now, 2 * 86400000, delta=60000)
            st, tok, _ = srv.request("POST", "/v1/tokens", {"name": "f", "ttl_days": 0}, opener=opener, headers=hdr)
            self.assertIsNone(tok["expires_ms"])  # asked for explicitly
        with CohortServer(BIN) as srv:
            opener, csrf = srv.login()
            st, tok, _ = srv.request("POST", "/v1/tokens", {"name": "d"}, opener=opener, headers={"X-CSRF-Token": csrf})
            self.assertAlmostEqual(tok["expires_ms"] - time.time() * 1000, 90 * 86400000, delta=60000)


if __name__ == "__main__":
    unittest.main()
