"""Listening on IPv6 as well as IPv4 (issue 8): --listen [::]:PORT takes both families on one
dual-stack socket; the default, localhost, binds 127.0.0.1 and ::1 on one port. A real
`cohort serve`; skipped only where the machine has no IPv6 loopback."""
import http.client
import os
import socket
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import CohortServer  # noqa: E402

BIN = os.environ.get("COHORT_BIN", os.path.join(ROOT, "build", "cohort"))


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def health(host, port):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@unittest.skipIf(os.environ.get("COHORT_TEST_ROLES"), "the listening sockets of one process (under COHORT_TEST_ROLES the balancer listens)")
@unittest.skipUnless(has_ipv6_loopback(), "no IPv6 loopback (::1) on this machine")
class ListenTest(unittest.TestCase):
    def serve(self, listen):
        srv = CohortServer(BIN, extra_args=["--listen", listen]).start()
        self.addCleanup(srv.cleanup)
        return srv, int(srv.url.rsplit(":", 1)[1])

    def test_dual_stack_wildcard(self):
        srv, port = self.serve("[::]:0")
        self.assertEqual(health("::1", port)[0], 200)
        self.assertEqual(health("127.0.0.1", port)[0], 200)

    def test_localhost_serves_both_loopbacks(self):
        srv, port = self.serve("localhost:0")
        self.assertEqual(health("::1", port)[0], 200)
        self.assertEqual(health("127.0.0.1", port)[0], 200)

    def test_ipv6_address_only(self):
        srv, port = self.serve("[::1]:0")
        self.assertEqual(health("::1", port)[0], 200)
        with self.assertRaises(OSError):
            health("127.0.0.1", port)

    def test_bad_address_is_refused_naming_listen(self):
        srv = CohortServer(BIN, extra_args=["--listen", "[nope]:0"])
        with self.assertRaises(RuntimeError) as ctx:
            srv.start(timeout=10)
        srv.cleanup()
        self.assertIn("listen", str(ctx.exception))


if __name__ == "__main__":
    unittest.main()
