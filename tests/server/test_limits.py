"""Hardening of datasets (issue 12): CSV shape limits enforced while the file is read (413 naming
the server setting), bounded schema/preview/list responses, and memory that comes back after
wide uploads are deleted. A real `cohort serve` on 127.0.0.1; every loop is bounded."""
import os
import re
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import CohortServer, ServerTestCase  # noqa: E402

BIN = os.environ.get("COHORT_BIN", os.path.join(ROOT, "build", "cohort"))


def _sanitized(path):
    """ASan's allocator keeps freed memory in quarantine and ignores malloc_trim: RSS bounds on
    giving memory back only hold for the ordinary build."""
    try:
        with open(path, "rb") as f:
            return b"AddressSanitizer" in f.read()
    except OSError:
        return False


SANITIZED = _sanitized(BIN)


def wide_csv(cols, rows):
    head = ",".join("c%d" % i for i in range(cols))
    lines = [head] + [",".join(str((r * 7 + i) % 13) for i in range(cols)) for r in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def rss_mb(srv):
    st, body, _ = srv.request("GET", "/metrics")
    assert st == 200
    return int(re.search(rb"process_resident_memory_bytes (\d+)", body).group(1)) / 2**20


class CsvLimitsTest(ServerTestCase):
    def assertLimit(self, resp, setting, value):
        st, body, _ = resp
        self.assertEqual(st, 413, body)
        self.assertEqual(body["error"]["code"], "too_large")
        self.assertIn("server setting %s = %d" % (setting, value), body["error"]["message"])

    def test_million_columns_refused_quickly(self):
        # The reproduction: one row of 1,000,000 columns (~13 MB) was accepted after 18 s
        # and took RSS to 1.4 GB. It must stop at column 4097, cheaply.
        body = wide_csv(1000000, 1)
        before = rss_mb(self.srv)
        t0 = time.time()
        resp = self.req("POST", "/v1/datasets?name=wide", body)
        took = time.time() - t0
        self.assertLimit(resp, "csv_max_columns", 4096)
        self.assertIn("column 4097", resp[1]["error"]["message"])
        self.assertNotIn(self.srv.data_dir, resp[1]["error"]["message"])
        self.assertLess(took, 10 if SANITIZED else 5)
        self.assertLess(rss_mb(self.srv) - before, 64)
        st, lst, _ = self.req("GET", "/v1/datasets")
        self.assertEqual([d for d in lst["datasets"] if d["name"] == "wide"], [])

    def test_wide_dataset_bounded_responses_and_memory_returns(self):
        # 4096 columns (the default limit) x 300 rows is allowed. Before: GET returned the whole
        # schema (0.46 MB), a 1000-row preview parsed the whole file and built 5 MB of JSON, and
        # RSS grew from 11 to 280 MB over four upload/get/preview/delete rounds, never returning.
        body = wide_csv(4096, 300)
        base = rss_mb(self.srv)
        for _ in range(4):
            st, ds, _ = self.req("POST", "/v1/datasets?name=w", body)
            self.assertEqual(st, 201, ds)
            self.assertEqual(ds["columns"], 4096)
            self.assertEqual(len(ds["schema"]), 1000)
            st, g, _ = self.req("GET", "/v1/datasets/" + ds["id"])
            self.assertEqual((len(g["schema"]), g["schema_offset"], g["schema_next"]), (1000, 0, 1000))
            st, raw, _ = self.req("GET", "/v1/datasets/" + ds["id"] + "/preview?rows=1000", raw=True)
            self.assertEqual(st, 200)
            self.assertLess(len(raw), 1 << 20)
            st, lst, _ = self.req("GET", "/v1/datasets")
            self.assertTrue(all("schema" not in d for d in lst["datasets"]))
            st, _, _ = self.req("DELETE", "/v1/datasets/" + ds["id"])
            self.assertEqual(st, 200)
        grown = rss_mb(self.srv) - base
        if not SANITIZED:
            self.assertLess(grown, 40, "RSS grew by %.0f MB over four wide uploads that were deleted" % grown)

    def test_schema_pages_cover_every_column(self):
        st, ds, _ = self.req("POST", "/v1/datasets?name=pages", wide_csv(2500, 3))
        self.assertEqual(st, 201, ds)
        names, offset = [], 0
        for _ in range(10):
            st, g, _ = self.req("GET", "/v1/datasets/%s?schema_offset=%d&schema_limit=1000" % (ds["id"], offset))
            self.assertEqual(st, 200, g)
            self.assertEqual(g["schema_offset"], offset)
            names += [f["name"] for f in g["schema"]]
            if g["schema_next"] is None:
                break
            offset = g["schema_next"]
        self.assertEqual(names, ["c%d" % i for i in range(2500)])
        st, err, _ = self.req("GET", "/v1/datasets/%s?schema_limit=5000" % ds["id"])
        self.assertEqual((st, err["error"]["field"]), (400, "schema_limit"))
        # A preview of a wide table shows fewer rows so rows x columns stays bounded, and pages
        # of columns reach every one.
        st, p, _ = self.req("GET", "/v1/datasets/%s/preview?rows=1000&columns_offset=2000&columns=1000" % ds["id"])
        self.assertEqual(st, 200, p)
        self.assertEqual(p["columns"][0], "c2000")
        self.assertEqual(len(p["columns"]), 500)
        self.assertEqual((p["total_columns"], p["total_rows"], len(p["rows"])), (2500, 3, 3))
        self.req("DELETE", "/v1/datasets/" + ds["id"])

    def test_preview_window_and_long_cells(self):
        rows = ["a,b"] + ["%d,%s" % (i, "x" * (3000 if i == 5 else 3)) for i in range(50)]
        st, ds, _ = self.req("POST", "/v1/datasets?name=cells", ("\n".join(rows) + "\n").encode())
        self.assertEqual(st, 201, ds)
        st, p, _ = self.req("GET", "/v1/datasets/%s/preview?rows=3&offset=4" % ds["id"])
        self.assertEqual(st, 200, p)
        self.assertEqual([r[0] for r in p["rows"]], ["4", "5", "6"])
        self.assertEqual(p["total_rows"], 50)
        self.assertEqual(p["cut_cells"], 1)
        self.assertTrue(p["rows"][1][1].endswith("\u2026"))
        self.assertLessEqual(len(p["rows"][1][1].encode()), 1024 + 3)
        self.req("DELETE", "/v1/datasets/" + ds["id"])


class CsvLimitSettingsTest(unittest.TestCase):
    """The limits are settings: smaller ones are enforced and named in the error."""

    def test_configured_limits(self):
        args = ["--csv_max_columns", "5", "--csv_max_cells", "40", "--csv_max_cell_bytes", "32"]
        with CohortServer(BIN, extra_args=args) as srv:
            tok = srv.token()
            up = lambda body: srv.request("POST", "/v1/datasets?name=x", body, token=tok)
            st, ds, _ = up(wide_csv(5, 8))
            self.assertEqual(st, 201, ds)
            for body, setting, value in ((wide_csv(6, 1), "csv_max_columns", 5),
                                         (wide_csv(4, 11), "csv_max_cells", 40),
                                         (b"a,b\n1," + b"y" * 40 + b"\n", "csv_max_cell_bytes", 32)):
                st, err, _ = up(body)
                self.assertEqual(st, 413, err)
                self.assertIn("server setting %s = %d" % (setting, value), err["error"]["message"])


class MemoryBudgetTest(unittest.TestCase):
    """memory_budget_mb covers the heavy work, not only hosted trainees (issue 12): an upload's
    parse, a large JSON body's decode and a job each reserve an estimate first; what can never fit
    is refused naming the setting (413), and the budget comes back after the work."""

    def test_work_reserves_from_the_budget(self):
        with CohortServer(BIN, extra_args=["--memory_budget_mb", "8"]) as srv:
            tok = srv.token()
            m = lambda name: float(re.search(rb"\n%s (\S+)" % name.encode(), srv.request("GET", "/metrics")[1]).group(1))
            small = wide_csv(8, 12000)  # ~0.3 MB: parsing it reserves ~2 MB
            self.assertLess(len(small), 1 << 20)
            st, ds, _ = srv.request("POST", "/v1/datasets?name=small", small, token=tok)
            self.assertEqual(st, 201, ds)
            big = wide_csv(8, 120000)  # ~2.1 MB: parsing it would take ~9.6 MB
            st, err, _ = srv.request("POST", "/v1/datasets?name=big", big, token=tok)
            self.assertEqual((st, err["error"]["code"]), (413, "too_large"), err)
            self.assertIn("parsing this CSV file needs about", err["error"]["message"])
            self.assertIn("memory_budget_mb = 8", err["error"]["message"])
            # A JSON body over 1 MB reserves 8x its size to decode.
            rows = [{"c0": i % 13, "c1": "x" * 20} for i in range(40000)]
            st, err, _ = srv.request("POST", "/v1/trainees", {"name": "t", "dataset": ds["id"], "rows": rows},
                                     token=tok)
            self.assertEqual((st, err["error"]["code"]), (413, "too_large"), err)
            self.assertIn("decoding this JSON body needs about", err["error"]["message"])
            # A job whose estimate can never fit fails with the reason; one that fits runs.
            mid = wide_csv(8, 70000)  # ~1.25 MB: parses in ~6 MB, training would need ~11 MB
            st, ds2, _ = srv.request("POST", "/v1/datasets?name=mid", mid, token=tok)
            self.assertEqual(st, 201, ds2)
            st, body, _ = srv.request("POST", "/v1/trainees", {"name": "too-big", "dataset": ds2["id"]}, token=tok)
            self.assertEqual(st, 202, body)
            job = srv.wait_job(body["job"]["id"], tok)
            self.assertEqual(job["state"], "failed", job)
            self.assertIn("memory_budget_mb = 8", job["error"])
            st, body, _ = srv.request("POST", "/v1/trainees", {"name": "fits", "dataset": ds["id"]}, token=tok)
            self.assertEqual(srv.wait_job(body["job"]["id"], tok)["state"], "succeeded")
            if not os.environ.get("COHORT_TEST_ROLES"):  # there, each process counts its own
                self.assertGreaterEqual(m("cohort_memory_refusals_total"), 3)
                self.assertEqual(m("cohort_memory_reserved_bytes"), 0)  # everything given back


if __name__ == "__main__":
    unittest.main()
