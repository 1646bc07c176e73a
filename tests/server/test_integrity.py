"""Corrupt and truncated objects (issue 12): checksums stored at commit and checked on every read,
500 corrupt_object instead of bad bytes, the trainee's state, /metrics, recovery by restoring the
object; and the database check at start (embedded store). Runs on the embedded default and, under
tests/with-cluster.sh, on PostgreSQL + S3 (the object is then changed in the bucket and in the
server's local cache, which is checked like the bucket).
"""
import glob
import hashlib
import http.client
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import CohortServer, ServerTestCase  # noqa: E402

BIN = os.environ.get("COHORT_BIN", os.path.join(ROOT, "build", "cohort"))
PENGUINS = os.path.join(ROOT, "tests", "data", "penguins.csv")
CLUSTER = os.environ.get("COHORT_TEST_CLUSTER") == "1"
if CLUSTER:
    import cluster_util  # noqa: E402


def read(path):
    with open(path, "rb") as f:
        return f.read()


def metric(srv, name):
    st, body, _ = srv.request("GET", "/metrics")
    assert st == 200
    m = re.search(r"^%s (\S+)$" % re.escape(name), body.decode(), re.M)
    assert m, "no %s in /metrics" % name
    return float(m.group(1))


class Objects:
    """Reads and replaces a server's stored objects behind its back: files under data_dir/blobs, or
    (cluster) the objects in the bucket under the server's prefix plus its cached copies."""

    def __init__(self, srv):
        self.srv = srv
        if CLUSTER:  # the prefix tests/cluster/cohort-on-cluster.sh gives this data_dir
            real = os.path.realpath(srv.data_dir)
            self.prefix = "t" + hashlib.md5(real.encode()).hexdigest()[:20]

    def keys(self, under):
        if CLUSTER:
            found = cluster_util.s3_list(self.prefix + "/" + under)
            return sorted(k[len(self.prefix) + 1:] for k in found)
        root = os.path.join(self.srv.data_dir, "blobs")
        return sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, under + "*"))
                      if os.path.isfile(p))

    def get(self, key):
        if CLUSTER:
            st, data = cluster_util.s3_get(self.prefix + "/" + key)
            assert st == 200, (key, st)
            return data
        return read(os.path.join(self.srv.data_dir, "blobs", key))

    def put(self, key, data):
        if CLUSTER:
            st, body = cluster_util.s3_request("PUT", "/%s/%s/%s" % (cluster_util.env("COHORT_TEST_S3_BUCKET"),
                                                                       self.prefix, key), body=data)
            assert st == 200, (st, body[:200])
            paths = [os.path.join(self.srv.data_dir, "s3-cache", "objects", key)]
        else:
            paths = [os.path.join(self.srv.data_dir, "blobs", key)]
        for p in paths:
            if os.path.exists(p) or not CLUSTER:
                with open(p, "wb") as f:
                    f.write(data)


@unittest.skipIf(os.environ.get("COHORT_TEST_ROLES"), "counts one process's /metrics and damages its cached copies "
                 "(runs in server and server_cluster)")
class CorruptObjectTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.objects = Objects(cls.srv)
        cls.csv = read(PENGUINS)

    def assertCorrupt(self, resp, what):
        st, body, _ = resp
        self.assertEqual(st, 500, body)
        self.assertEqual(body["error"]["code"], "corrupt_object", body)
        self.assertIn("is corrupt", body["error"]["message"])
        self.assertNotIn(self.srv.data_dir, body["error"]["message"])  # no server paths
        self.assertIn(what, body["error"]["message"])

    def upload(self, name):
        st, ds, _ = self.req("POST", "/v1/datasets?name=" + name, self.csv)
        self.assertEqual(st, 201, ds)
        return ds

    def train(self, ds):
        st, body, _ = self.req("POST", "/v1/trainees", {"name": "t", "dataset": ds["id"]})
        self.assertEqual(st, 202, body)
        job = self.srv.wait_job(body["job"]["id"], self.tok)
        self.assertEqual(job["state"], "succeeded", job)
        return body["trainee"]["id"]

    def raw_get(self, path):
        """(status, headers, bytes received, whether the body ended cleanly)."""
        u = urllib.parse.urlsplit(self.srv.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + self.tok})
            resp = conn.getresponse()
            try:
                data, clean = resp.read(), True
            except http.client.IncompleteRead as e:
                data, clean = e.partial, False
            return resp.status, resp.headers, data, clean
        finally:
            conn.close()

    def test_dataset_checksum_and_truncation(self):
        ds = self.upload("trunc")
        self.assertEqual(ds["sha256"], hashlib.sha256(self.csv).hexdigest())
        self.assertIsNone(ds["corrupt"])
        key = "datasets/%s.csv" % ds["id"]
        before = metric(self.srv, "cohort_corrupt_objects_total")
        self.objects.put(key, self.csv[: len(self.csv) // 2])
        self.assertCorrupt(self.req("GET", "/v1/datasets/%s/download" % ds["id"]), key)
        self.assertCorrupt(self.req("GET", "/v1/datasets/%s/preview" % ds["id"]), key)
        st, got, _ = self.req("GET", "/v1/datasets/" + ds["id"])
        self.assertEqual(st, 200)
        self.assertIn("is corrupt", got["corrupt"])
        # Found once, however often it is read; the server stays ready (the rest of it is fine).
        self.assertEqual(metric(self.srv, "cohort_corrupt_objects_total"), before + 1)
        self.assertEqual(self.req("GET", "/readyz")[0], 200)
        # A job that reads it fails and says why.
        st, body, _ = self.req("POST", "/v1/trainees", {"name": "from-bad", "dataset": ds["id"]})
        self.assertEqual(st, 202, body)
        job = self.srv.wait_job(body["job"]["id"], self.tok)
        self.assertEqual(job["state"], "failed", job)
        self.assertIn("is corrupt", job["error"])
        # Restoring the object (from a backup) makes it whole again, mark included.
        self.objects.put(key, self.csv)
        st, data, _ = self.req("GET", "/v1/datasets/%s/download" % ds["id"])
        self.assertEqual(st, 200)
        self.assertEqual(data, self.csv)
        self.assertIsNone(self.req("GET", "/v1/datasets/" + ds["id"])[1]["corrupt"])

    def test_dataset_changed_bytes_abort_the_download(self):
        ds = self.upload("flip")
        key = "datasets/%s.csv" % ds["id"]
        bad = bytearray(self.csv)
        bad[-10] ^= 0x20  # same size, other bytes: found only once the last byte is read
        self.objects.put(key, bytes(bad))
        st, headers, data, clean = self.raw_get("/v1/datasets/%s/download" % ds["id"])
        if CLUSTER:  # a cached copy is checked whole before the first byte (and fetched again)
            self.assertEqual(st, 500)
        else:
            self.assertEqual(st, 200)  # the headers were out before the end was read
            self.assertFalse(clean, "a corrupt download must not end cleanly")
            self.assertLess(len(data), len(self.csv))
        st, got, _ = self.req("GET", "/v1/datasets/" + ds["id"])
        self.assertIn("SHA-256", got["corrupt"])
        self.objects.put(key, self.csv)

    @unittest.skipUnless(CLUSTER, "objects in S3")
    def test_download_streams_from_the_bucket(self):
        # No local copy: the object streams from S3 in ranged GETs of 4 MiB, checked as it goes,
        # and is not stored on the way (issue 9: reads stream from the object store).
        rows = ["a,b,c"] + ["%d,%s,%d" % (i, "v%05d" % (i * 7919 % 100000), i % 97) for i in range(560000)]
        big = ("\n".join(rows) + "\n").encode()
        self.assertGreater(len(big), 2 * 4 * 2**20)  # three chunks at least
        st, ds, _ = self.req("POST", "/v1/datasets?name=big", big)
        self.assertEqual(st, 201, ds)
        key = "datasets/%s.csv" % ds["id"]
        cached = os.path.join(self.srv.data_dir, "s3-cache", "objects", key)
        self.assertTrue(os.path.exists(cached))  # the upload keeps a copy
        os.unlink(cached)
        st, headers, data, clean = self.raw_get("/v1/datasets/%s/download" % ds["id"])
        self.assertEqual((st, clean, len(data)), (200, True, len(big)))
        self.assertEqual(hashlib.sha256(data).hexdigest(), ds["sha256"])
        self.assertFalse(os.path.exists(cached), "streamed, not downloaded to the cache first")
        # A preview reads the bucket only up to the rows it shows (here in the second chunk).
        st, pv, _ = self.req("GET", "/v1/datasets/%s/preview?rows=3&offset=500000" % ds["id"])
        self.assertEqual(st, 200, pv)
        self.assertEqual(pv["rows"], [r.split(",") for r in rows[500001:500004]])
        self.assertFalse(os.path.exists(cached), "previewed, not downloaded to the cache first")
        # Changed bytes in the bucket are found at the end: the transfer ends short, the record is marked.
        bad = bytearray(big)
        bad[-5] ^= 0x20
        st, body = cluster_util.s3_request("PUT", "/%s/%s/%s" % (cluster_util.env("COHORT_TEST_S3_BUCKET"),
                                                                 self.objects.prefix, key), body=bytes(bad))
        self.assertEqual(st, 200, body[:200])
        st, headers, data, clean = self.raw_get("/v1/datasets/%s/download" % ds["id"])
        self.assertEqual(st, 200)
        self.assertFalse(clean, "a corrupt download must not end cleanly")
        self.assertLess(len(data), len(big))
        self.assertIn("SHA-256", self.req("GET", "/v1/datasets/" + ds["id"])[1]["corrupt"])
        self.assertEqual(self.req("DELETE", "/v1/datasets/" + ds["id"])[0], 200)

    def test_trainee_truncated(self):
        ds = self.upload("for-trainee")
        tr = self.train(ds)
        st, t, _ = self.req("GET", "/v1/trainees/" + tr)
        self.assertEqual((t["state"], t["ready"], t["corrupt"]), ("ready", True, None))
        keys = self.objects.keys("trainees/%s/" % tr)
        self.assertEqual(len(keys), 1, keys)
        good = self.objects.get(keys[0])
        self.assertEqual(t["sha256"], hashlib.sha256(good).hexdigest())
        self.objects.put(keys[0], good[: len(good) - 100])
        self.assertCorrupt(self.req("GET", "/v1/trainees/%s/export" % tr), keys[0])
        predict = {"targets": ["species"], "rows": [{"island": "Biscoe", "bill_length_mm": 45}]}
        self.assertCorrupt(self.req("POST", "/v1/trainees/%s/predict" % tr, predict), keys[0])
        st, t, _ = self.req("GET", "/v1/trainees/" + tr)
        self.assertEqual((t["state"], t["ready"]), ("corrupt", False), t)
        self.assertIn("is corrupt", t["corrupt"])
        st, body, _ = self.req("POST", "/v1/trainees/%s/analyze" % tr, {})
        self.assertEqual(st, 202, body)
        job = self.srv.wait_job(body["job"]["id"], self.tok)
        self.assertEqual(job["state"], "failed", job)
        self.assertIn("is corrupt", job["error"])
        self.assertEqual(self.req("GET", "/readyz")[0], 200)
        # Recovery, as docs/server.md says: a new trainee from the same dataset...
        fresh = self.train(ds)
        self.assertEqual(self.req("POST", "/v1/trainees/%s/predict" % fresh, predict)[0], 200)
        # ... or the object restored from a backup, which makes this one whole again.
        self.objects.put(keys[0], good)
        st, body, _ = self.req("POST", "/v1/trainees/%s/predict" % tr, predict)
        self.assertEqual(st, 200, body)
        st, t, _ = self.req("GET", "/v1/trainees/" + tr)
        self.assertEqual((t["state"], t["ready"], t["corrupt"]), ("ready", True, None))
        st, data, _ = self.req("GET", "/v1/trainees/%s/export" % tr)
        self.assertEqual((st, data), (200, good))

    def report(self):
        a, b = self.upload("real"), self.upload("synthetic")
        st, body, _ = self.req("POST", "/v1/evaluate", {"real": a["id"], "synthetic": b["id"]})
        self.assertEqual(st, 202, body)
        job = self.srv.wait_job(body["job"]["id"], self.tok)
        self.assertEqual(job["state"], "succeeded", job)
        return job["result"]["report"]

    def test_report_objects_checked(self):
        rep = self.report()
        jkey, hkey = "reports/%s.json" % rep, "reports/%s.html" % rep
        good_json, good_html = self.objects.get(jkey), self.objects.get(hkey)
        st, body, _ = self.req("GET", "/v1/reports/" + rep)
        self.assertEqual(st, 200, body)
        self.assertIsNone(body["corrupt"])
        self.assertIsNotNone(body["evaluation"])
        before = metric(self.srv, "cohort_corrupt_objects_total")
        # Before store version 5 a truncated report was answered 200 with "evaluation": null.
        self.objects.put(jkey, good_json[: len(good_json) // 2])
        self.assertCorrupt(self.req("GET", "/v1/reports/" + rep), jkey)
        self.assertCorrupt(self.req("GET", "/v1/reports/" + rep), jkey)
        self.assertEqual(metric(self.srv, "cohort_corrupt_objects_total"), before + 1)
        st, listed, _ = self.req("GET", "/v1/reports")
        mine = [r for r in listed["reports"] if r["id"] == rep]
        self.assertIn(jkey, mine[0]["corrupt"])
        # The HTML is checked too, and a whole read of it does not clear what the JSON's check found.
        st, html, _ = self.req("GET", "/v1/reports/%s/html" % rep)
        self.assertEqual((st, html), (200, good_html))
        self.assertIn(jkey, self.req("GET", "/v1/reports")[1]["reports"][0]["corrupt"] or "")
        self.objects.put(jkey, good_json)
        self.assertEqual(self.req("GET", "/v1/reports/" + rep)[0], 200)
        self.assertIsNone(self.req("GET", "/v1/reports/" + rep)[1]["corrupt"])
        self.objects.put(hkey, good_html[:-50])
        self.assertCorrupt(self.req("GET", "/v1/reports/%s/html" % rep), hkey)
        self.assertEqual(metric(self.srv, "cohort_corrupt_objects_total"), before + 2)
        self.objects.put(hkey, good_html)
        self.assertEqual(self.req("GET", "/v1/reports/%s/html" % rep)[:2], (200, good_html))
        self.assertIsNone(self.req("GET", "/v1/reports/" + rep)[1]["corrupt"])

    @unittest.skipUnless(CLUSTER, "the S3 read cache (PostgreSQL + S3)")
    def test_damaged_cache_copy_is_fetched_again(self):
        """A damaged local copy is not a corrupt object: it is dropped and fetched again from the bucket."""
        ds = self.upload("cached")
        key = "datasets/%s.csv" % ds["id"]
        tr = self.train(ds)
        tkey = self.objects.keys("trainees/%s/" % tr)[0]
        good_trainee = self.objects.get(tkey)
        before = metric(self.srv, "cohort_corrupt_objects_total")
        for k, length in ((key, len(self.csv)), (tkey, len(good_trainee))):
            path = os.path.join(self.srv.data_dir, "s3-cache", "objects", k)
            self.assertTrue(os.path.isfile(path), path)  # cached at commit
            with open(path, "r+b") as f:  # same size, other bytes: only the checksum can tell
                f.seek(length - 10)
                f.write(b"#DAMAGED#!")
        st, headers, data, clean = self.raw_get("/v1/datasets/%s/download" % ds["id"])
        self.assertEqual((st, clean, data == self.csv), (200, True, True))
        st, data, _ = self.req("GET", "/v1/trainees/%s/export" % tr)
        self.assertEqual((st, data == good_trainee), (200, True))
        self.assertIsNone(self.req("GET", "/v1/datasets/" + ds["id"])[1]["corrupt"])
        self.assertIsNone(self.req("GET", "/v1/trainees/" + tr)[1]["corrupt"])
        self.assertEqual(metric(self.srv, "cohort_corrupt_objects_total"), before)
        self.assertEqual(read(os.path.join(self.srv.data_dir, "s3-cache", "objects", key)), self.csv)
        # A truncated cached copy too (the size check comes first).
        path = os.path.join(self.srv.data_dir, "s3-cache", "objects", key)
        with open(path, "r+b") as f:
            f.truncate(100)
        st, data, _ = self.req("GET", "/v1/datasets/%s/preview" % ds["id"])
        self.assertEqual(st, 200, data)
        self.assertEqual(metric(self.srv, "cohort_corrupt_objects_total"), before)

    def test_openapi_documents_corrupt_object(self):
        st, doc, _ = self.req("GET", "/v1/openapi.json")
        self.assertEqual(st, 200)
        self.assertIn("corrupt_object", json.dumps(doc))
        self.assertIn("storage_full", json.dumps(doc))


if __name__ == "__main__":
    unittest.main()


def admin_check(data_dir, *extra):
    out = subprocess.run([BIN, "admin", "check", "--data_dir", data_dir] + list(extra), capture_output=True,
                         text=True, timeout=300)
    return out.returncode, out.stdout, out.stderr


class AdminCheckTest(unittest.TestCase):
    """cohort admin check on a stopped installation: every object against its record."""

    def test_check_finds_marks_and_adopts(self):
        srv = CohortServer(BIN, keep_data=True).start()
        try:
            tok = srv.token()
            csv = read(PENGUINS)
            ids = []
            for name in ("a", "b", "c"):
                st, ds, _ = srv.request("POST", "/v1/datasets?name=" + name, csv, token=tok)
                self.assertEqual(st, 201, ds)
                ids.append(ds["id"])
            st, body, _ = srv.request("POST", "/v1/trainees", {"name": "t", "dataset": ids[0]}, token=tok)
            self.assertEqual(st, 202, body)
            self.assertEqual(srv.wait_job(body["job"]["id"], tok)["state"], "succeeded")
            objects = Objects(srv)
            self.assertEqual(srv.stop(), 0)

            rc, out, err = admin_check(srv.data_dir)
            self.assertEqual(rc, 0, out + err)
            self.assertIn("and 4 objects: 4 whole, 0 corrupt, 0 missing", out)

            objects.put("datasets/%s.csv" % ids[1], csv[:100])
            if not CLUSTER:  # a dataset from before checksums (the PostgreSQL case is the same code)
                db = sqlite3.connect(os.path.join(srv.data_dir, "cohort.db"))
                db.execute("UPDATE datasets SET sha256 = '' WHERE id = ?", (ids[2],))
                db.commit()
                db.close()
            rc, out, err = admin_check(srv.data_dir)
            self.assertEqual(rc, 1, out + err)
            self.assertIn("dataset %s: object 'datasets/%s.csv' is corrupt" % (ids[1], ids[1]), out)
            self.assertIn("1 corrupt", out)
            self.assertIn("see docs/server.md, Corruption", err)
            if not CLUSTER:
                self.assertIn("dataset %s: object datasets/%s.csv: no checksum recorded" % (ids[2], ids[2]), out)
                rc, out, err = admin_check(srv.data_dir, "--adopt")
                self.assertIn("dataset %s: object datasets/%s.csv: checksum recorded" % (ids[2], ids[2]), out)
                self.assertIn("without a checksum, checksums recorded: 1", out)

            # The mark shows through the API; restoring the object and checking again clears it.
            srv.start()
            st, ds, _ = srv.request("GET", "/v1/datasets/" + ids[1], token=tok)
            self.assertIn("is corrupt", ds["corrupt"])
            if not CLUSTER:
                self.assertEqual(srv.request("GET", "/v1/datasets/" + ids[2], token=tok)[1]["sha256"],
                                 hashlib.sha256(csv).hexdigest())
            self.assertEqual(srv.stop(), 0)
            objects.put("datasets/%s.csv" % ids[1], csv)
            rc, out, err = admin_check(srv.data_dir)
            self.assertEqual(rc, 0, out + err)
            self.assertIn("mark cleared", out)
            self.assertIn("orphan objects (no record names them): 0, 0 bytes, removed: 0", out)

            # An object no record names (a process died between storing and recording it): too young
            # to tell from a write in progress at first, then reported, then removed on request.
            objects.put("datasets/ds_orphan.csv", b"a,b\n1,2\n")
            rc, out, err = admin_check(srv.data_dir)
            self.assertEqual(rc, 0, out + err)
            self.assertIn("orphan objects (no record names them): 0,", out)
            rc, out, err = admin_check(srv.data_dir, "--orphan-age-s", "0")
            self.assertEqual(rc, 0, out + err)  # reported, not a problem
            self.assertIn("object datasets/ds_orphan.csv (8 bytes, written 0 min ago): no record names it", out)
            self.assertIn("orphan objects (no record names them): 1, 8 bytes, removed: 0", out)
            rc, out, err = admin_check(srv.data_dir, "--orphan-age-s", "0", "--remove-orphans")
            self.assertIn("ds_orphan.csv (8 bytes, written 0 min ago): no record names it: removed", out)
            self.assertEqual(objects.keys("datasets/ds_orphan"), [])
            self.assertIn("and 4 objects: 4 whole", out)  # what the records name is untouched
            self.assertEqual(admin_check(srv.data_dir, "--orphan-age-s", "x")[0], 2)
        finally:
            srv.keep_data = False
            srv.cleanup()


@unittest.skipIf(CLUSTER, "the embedded SQLite database")
class DamagedDatabaseTest(unittest.TestCase):
    def test_garbage_in_the_database_is_refused_at_start(self):
        srv = CohortServer(BIN, keep_data=True).start()
        try:
            tok = srv.token()
            st, ds, _ = srv.request("POST", "/v1/datasets?name=p", read(PENGUINS), token=tok)
            self.assertEqual(st, 201, ds)
            for i in range(40):  # some pages of rows and indexes to damage
                st, body, _ = srv.request("POST", "/v1/tokens", {"name": "t%d" % i}, token=tok)
                self.assertEqual(st, 201, body)
            self.assertEqual(srv.stop(), 0)
            db = os.path.join(srv.data_dir, "cohort.db")
            self.assertFalse(os.path.exists(db + "-wal") and os.path.getsize(db + "-wal") > 0)
            size = os.path.getsize(db)
            self.assertGreater(size, 64 << 10)
            with open(db, "r+b") as f:  # 8 KB of garbage into the middle of the file
                f.seek(size // 2 // 4096 * 4096)
                f.write(os.urandom(8192))
            started = time.time()
            with self.assertRaises(RuntimeError) as ctx:
                srv.start()
            log = str(ctx.exception)
            self.assertIn("the database is damaged", log)
            self.assertIn("restore it from a backup", log)
            self.assertIn("cohort admin check", log)
            self.assertLess(time.time() - started, 15)
            rc, out, err = admin_check(srv.data_dir)
            self.assertEqual(rc, 1, out + err)
            self.assertIn("database: ", out)
            self.assertIn("DAMAGED", out)
        finally:
            srv.keep_data = False
            srv.cleanup()


def can_mount():
    if os.geteuid() != 0:
        return False
    d = tempfile.mkdtemp(prefix="cohort-mnt-")
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", d], capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", d], check=True)
        return ok
    finally:
        os.rmdir(d)


@unittest.skipIf(CLUSTER, "the embedded store's own disk")
@unittest.skipUnless(can_mount(), "needs root to mount a small tmpfs")
class DiskFullTest(unittest.TestCase):
    """A full data disk (a 40 MB tmpfs, filled to the last block): every write answers 507
    storage_full, and deletes still work, so users can free the disk through the product."""

    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="cohort-full-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", self.mnt], check=True)
        self.srv = None

    def tearDown(self):
        if self.srv:
            self.srv.stop()
        subprocess.run(["umount", "-l", self.mnt])
        os.rmdir(self.mnt)

    def fill(self):
        """Fills the disk: a filler file grown until the file system refuses a block."""
        path = os.path.join(self.mnt, "filler")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 16, 4096, 512):  # big blocks, then the last partial ones
                for _ in range(4000):
                    try:
                        os.write(fd, b"\0" * size)
                    except OSError:
                        break
        finally:
            os.close(fd)
        return path

    def assertFull(self, resp):
        st, body, _ = resp
        self.assertEqual(st, 507, body)
        self.assertIn(body["error"]["code"], ("storage_full", "storage"), body)
        self.assertNotIn(self.mnt, body["error"]["message"])

    def test_full_disk(self):
        data = os.path.join(self.mnt, "data")
        # The objects on another disk, so that removing them frees nothing here: only the reserve
        # lets the database take a delete (with them on this disk, removing them first does).
        blobs = tempfile.mkdtemp(prefix="cohort-blobs-")
        self.addCleanup(shutil.rmtree, blobs, True)
        self.srv = srv = CohortServer(BIN, data_dir=data, keep_data=True,
                                      extra_args=["--disk_reserve_mb", os.environ.get("RESERVE_MB", "4"),
                                                  "--blobs", blobs]).start()
        tok = srv.token()
        csv = read(PENGUINS)
        ids = []
        for i in range(6):
            st, ds, _ = srv.request("POST", "/v1/datasets?name=d%d" % i, csv * 40, token=tok)
            self.assertEqual(st, 201, ds)
            ids.append(ds["id"])
        self.assertTrue(os.path.exists(os.path.join(data, "cohort-disk-reserve")))
        self.assertGreater(metric(srv, "cohort_disk_reserve_held"), 0)
        filler = self.fill()

        # Every write: 507 with a clear message, never 500. SQLite may still have a few free pages in
        # its WAL, so each kind of write is repeated until the disk refuses it.
        def until_full(call, ok):
            for _ in range(300):
                st, body, h = call()
                if st != ok:
                    self.assertFull((st, body, h))
                    return body
            self.fail("still %d after 300 writes on a full disk" % ok)

        body = until_full(lambda: srv.request("POST", "/v1/tokens", {"name": "x"}, token=tok), 201)
        self.assertIn("is full", body["error"]["message"])
        self.assertIn("deleting datasets", body["error"]["message"])
        until_full(lambda: srv.request("POST", "/v1/auth/login",
                                       {"username": "admin", "password": srv.admin_password}), 200)
        until_full(lambda: srv.request("POST", "/v1/trainees", {"name": "t", "dataset": ids[0]}, token=tok), 202)
        self.assertFull(srv.request("POST", "/v1/datasets?name=more", csv, token=tok))
        self.assertEqual(srv.request("GET", "/readyz")[0], 200)

        # Deleting frees the disk through the product: the first delete succeeds on the full disk
        # (force: the trainees made from it stop naming it, which is a write too), once the train
        # jobs that read it are over (a dataset is not deleted under a job reading it: 409).
        deadline = time.time() + 120
        while True:
            st, body, _ = srv.request("DELETE", "/v1/datasets/%s?force=true" % ids[0], token=tok)
            if st != 409 or time.time() > deadline:
                break
            self.assertIn("queued or running jobs", body["error"]["message"])
            time.sleep(0.2)
        self.assertEqual(st, 200, body)
        for i in ids[1:3]:
            self.assertEqual(srv.request("DELETE", "/v1/datasets/" + i, token=tok)[0], 200)
        # ... also after a restart on the still-full disk.
        self.assertEqual(srv.stop(), 0)
        srv.start()
        self.assertEqual(srv.request("DELETE", "/v1/datasets/" + ids[3], token=tok)[0], 200)
        st, lst, _ = srv.request("GET", "/v1/datasets", token=tok)
        self.assertEqual(sorted(d["id"] for d in lst["datasets"]), sorted(ids[4:]))

        # With room again, writes work and the reserve is set aside again.
        os.remove(filler)
        self.assertEqual(srv.request("POST", "/v1/tokens", {"name": "y"}, token=tok)[0], 201)
        self.assertEqual(srv.request("DELETE", "/v1/datasets/" + ids[4], token=tok)[0], 200)
        self.assertEqual(metric(srv, "cohort_disk_reserve_held"), 1)
