"""The Cohort REST client (standard library only; pandas is used when present)."""
import concurrent.futures
import io
import json
import math
import os
import urllib.error
import urllib.parse
import urllib.request
import warnings

from . import _rows
from ._sse import parse_sse
from .errors import CohortConnectionError, CohortError
from .resources import Dataset, Job, Report, Trainee, Workspace, ident

__all__ = ["Client", "DEFAULT_URL", "DEFAULT_WAIT_TIMEOUT"]

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_WAIT_TIMEOUT = 600.0
VERSION = "0.1.0"


def _env_wait_timeout():
    text = os.environ.get("COHORT_WAIT_TIMEOUT")
    if not text:
        return DEFAULT_WAIT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise ValueError("COHORT_WAIT_TIMEOUT: expected seconds, got %r" % text) from None
    if value < 0 or math.isnan(value):
        raise ValueError("COHORT_WAIT_TIMEOUT: expected seconds >= 0, got %r" % text)
    return value


def _quote(segment):
    return urllib.parse.quote(str(segment), safe="")



class UnseenValueWarning(UserWarning):
    """A prediction's context held a category the trainee never saw, so it informed nothing."""


def _warn_unseen(preds):
    unseen = [(i, u) for i, p in enumerate(preds) for u in p.get("unknown") or ()]
    if unseen:
        first = "; ".join("row %d: %s %r" % (i, u.get("column"), u.get("value")) for i, u in unseen[:5])
        more = " and %d more" % (len(unseen) - 5) if len(unseen) > 5 else ""
        warnings.warn("values never seen in training did not inform the predictions: %s%s" % (first, more),
                      UnseenValueWarning, stacklevel=3)

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # the API does not redirect; never resend credentials
        return None


class Client:
    """A connection to a Cohort server.

    Client(url=None, token=None, timeout=60, workspace=None, wait_timeout=None)

    url defaults to $COHORT_URL (else http://127.0.0.1:8080), token to $COHORT_TOKEN; or call
    login(username, password) for a cookie session (the CSRF header is sent for you). timeout is
    the per-request socket timeout in seconds. workspace (kept as .default_workspace) is the
    workspace id for calls that take one when they name none (None: the server uses the caller's
    only workspace). wait_timeout is the
    default limit of Job.wait and Trainee.wait_ready ($COHORT_WAIT_TIMEOUT, else 600 seconds).

    The client is safe to share between threads (no state changes while requests run, except
    login and logout).
    """

    def __init__(self, url=None, token=None, timeout=60, workspace=None, wait_timeout=None):
        url = url or os.environ.get("COHORT_URL") or DEFAULT_URL
        if "://" not in url:
            url = "http://" + url
        self.url = url.rstrip("/")
        self.token = token if token is not None else (os.environ.get("COHORT_TOKEN") or None)
        self.timeout = timeout
        self.default_workspace = workspace
        self.wait_timeout = float(wait_timeout) if wait_timeout is not None else _env_wait_timeout()
        self.user = None  # the signed-in user after login()
        self._session = None
        self._csrf = None
        self._opener = urllib.request.build_opener(_NoRedirect)

    def __repr__(self):
        how = "session" if self._session else "token" if self.token else "anonymous"
        return "<cohort_client.Client %s (%s)>" % (self.url, how)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Nothing to release (each request opens its own connection); kept for `with`."""

    def _wait_limit(self, timeout):
        limit = self.wait_timeout if timeout is None else float(timeout)
        if limit < 0 or math.isnan(limit):
            raise ValueError("timeout: expected seconds >= 0, got %r" % timeout)
        return limit

    # ------------------------------------------------------------------ HTTP

    def _request(self, method, path, query=None, body=None, data=None, content_type=None, length=None,
                 accept="application/json", stream=False, timeout=None):
        """Sends one request. Returns (status, headers, payload bytes), or the open response when
        stream is true. Raises CohortError for an error status, CohortConnectionError when the
        server cannot be reached."""
        url = self.url + path
        q = [(k, v) for k, v in (query or {}).items() if v is not None]
        if q:
            url += "?" + urllib.parse.urlencode([(k, str(v).lower() if isinstance(v, bool) else v) for k, v in q])
        headers = {"Accept": accept, "User-Agent": "cohort-client-python/" + VERSION}
        if body is not None:
            data = json.dumps(body, allow_nan=False).encode("utf-8")
            content_type = "application/json"
        elif data is None and method in ("POST", "PUT", "PATCH"):
            data = b""
        if content_type:
            headers["Content-Type"] = content_type
        if isinstance(data, (bytes, bytearray)):
            headers["Content-Length"] = str(len(data))
        elif length is not None:
            headers["Content-Length"] = str(length)
        if self._session:
            headers["Cookie"] = "cohort_session=" + self._session
            if method not in ("GET", "HEAD"):
                headers["X-CSRF-Token"] = self._csrf or ""
        elif self.token:
            headers["Authorization"] = "Bearer " + self.token
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            resp = self._opener.open(req, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as e:
            try:
                payload = e.read()
            except OSError:
                payload = b""
            raise self._http_error(e.code, e.headers, payload, method, path, e.reason) from None
        except urllib.error.URLError as e:
            raise CohortConnectionError("cannot reach %s: %s" % (self.url, e.reason), method, path, e) from None
        except OSError as e:  # timeouts, resets
            raise CohortConnectionError("%s %s: %s" % (method, path, e), method, path, e) from None
        if stream:
            return resp
        try:
            with resp:
                payload = resp.read()
        except OSError as e:
            raise CohortConnectionError("%s %s: reading the reply: %s" % (method, path, e), method, path, e) from None
        return resp.status, resp.headers, payload

    @staticmethod
    def _http_error(status, headers, payload, method, path, reason=None):
        parsed = None
        code = message = field = None
        try:
            parsed = json.loads(payload.decode("utf-8")) if payload else None
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            err = parsed["error"]
            code, message, field = err.get("code"), err.get("message"), err.get("field")
        elif payload:
            message = payload.decode("utf-8", "replace")[:500]
        return CohortError(status, code or "http_%d" % status, message or reason or "HTTP %d" % status, field,
                           parsed, method, path)

    def _request_json(self, method, path, query=None, body=None, **kw):
        status, headers, payload = self._request(method, path, query=query, body=body, **kw)
        if not payload:
            return None
        try:
            return json.loads(payload.decode("utf-8"))
        except ValueError:
            raise CohortError(status, "bad_reply", "expected JSON, got %r" % payload[:200], None, None, method,
                              path) from None

    def _get_json(self, path, query=None):
        return self._request_json("GET", path, query=query)

    def _ws(self, workspace):
        if workspace is None:
            workspace = self.default_workspace
        return ident(workspace) if workspace is not None else None

    def _upload(self, path, query, source, content_type):
        """POSTs source (a file path, bytes, str text, a binary file object, a DataFrame or a list
        of dicts) as a raw body."""
        if _rows.is_frame(source):
            return self._request_json("POST", path, query=query,
                                      data=source.to_csv(index=False).encode("utf-8"), content_type=content_type)
        if isinstance(source, (bytes, bytearray, memoryview)):
            return self._request_json("POST", path, query=query, data=bytes(source), content_type=content_type)
        if isinstance(source, (list, tuple)):
            return self._request_json("POST", path, query=query, data=_rows.records_to_csv(_rows.to_records(source)),
                                      content_type=content_type)
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as f:
                return self._request_json("POST", path, query=query, data=f, length=os.fstat(f.fileno()).st_size,
                                          content_type=content_type)
        if hasattr(source, "read"):
            length = None
            try:
                if source.seekable():
                    pos = source.tell()
                    length = source.seek(0, io.SEEK_END) - pos
                    source.seek(pos)
            except (AttributeError, OSError, ValueError):
                length = None
            if isinstance(source, io.TextIOBase):
                return self._request_json("POST", path, query=query, data=source.read().encode("utf-8"),
                                          content_type=content_type)
            return self._request_json("POST", path, query=query, data=source, length=length,
                                      content_type=content_type)
        raise TypeError("expected a file path, bytes, a file object, a DataFrame or a list of dicts, got %s"
                        % type(source).__name__)

    # ------------------------------------------------------------------ service

    def health(self):
        """GET /healthz -> {"status": "ok"}."""
        return self._get_json("/healthz")

    def ready(self):
        """True when /readyz answers ready."""
        try:
            return self._get_json("/readyz").get("status") == "ready"
        except CohortError:
            return False

    def openapi(self):
        return self._get_json("/v1/openapi.json")

    # ------------------------------------------------------------------ sign-in

    def login(self, username, password):
        """Signs in with a cookie session (replacing any token for this client); returns self.
        The CSRF token is sent on every change for you. self.user holds the signed-in user."""
        status, headers, payload = self._request("POST", "/v1/auth/login",
                                                 body={"username": username, "password": password})
        body = json.loads(payload.decode("utf-8"))
        session = None
        for value in headers.get_all("Set-Cookie") or []:
            first = value.split(";", 1)[0].strip()
            name, _, val = first.partition("=")
            if name.strip() == "cohort_session" and val:
                session = val.strip()
        if not session:
            raise CohortError(status, "bad_reply", "the login reply set no cohort_session cookie", None, body, "POST",
                              "/v1/auth/login")
        self._session, self._csrf = session, body.pop("csrf_token", None)
        self.token = None
        self.user = body
        return self

    def logout(self):
        """Ends the cookie session (no-op without one)."""
        if self._session:
            try:
                self._request_json("POST", "/v1/auth/logout")
            finally:
                self._session = self._csrf = None
                self.user = None

    def me(self):
        """The caller: {"id", "name", "admin", "created_ms", "workspaces": [...]}."""
        return self._get_json("/v1/me")

    def change_password(self, current, new, keep_tokens=False):
        """Changes the caller's password. The user's other sessions end, and their API tokens are
        revoked unless keep_tokens: {"changed", "sessions_ended", "tokens_revoked"}."""
        return self._request_json("PUT", "/v1/me/password",
                                  body={"current": current, "password": new, "keep_tokens": keep_tokens})

    # ------------------------------------------------------------------ tokens

    def tokens(self):
        """The caller's API tokens (without their secrets)."""
        return self._get_json("/v1/tokens")["tokens"]

    def create_token(self, name, ttl_days=None):
        """A new API token: {"id", "name", ..., "token": secret (shown only now)}."""
        return self._request_json("POST", "/v1/tokens", body=_drop_none({"name": name, "ttl_days": ttl_days}))

    def delete_token(self, token_id):
        return self._request_json("DELETE", "/v1/tokens/" + _quote(_token_id(token_id)))

    # ------------------------------------------------------------------ users (administrators)

    def users(self):
        return self._get_json("/v1/users")["users"]

    def create_user(self, name, password, admin=False):
        return self._request_json("POST", "/v1/users", body={"name": name, "password": password, "admin": admin})

    # ------------------------------------------------------------------ workspaces

    def workspaces(self):
        """The caller's workspaces (with their role in each)."""
        out = []
        for m in self._get_json("/v1/workspaces")["workspaces"]:
            out.append(Workspace(self, {"id": m.get("workspace"), "name": m.get("workspace_name"),
                                        "role": m.get("role")}))
        return out

    def create_workspace(self, name):
        return Workspace(self, self._request_json("POST", "/v1/workspaces", body={"name": name}))

    def workspace(self, workspace_id):
        """A workspace with its members."""
        return Workspace(self, self._get_json("/v1/workspaces/" + _quote(ident(workspace_id))))

    def delete_workspace(self, workspace_id):
        return self._request_json("DELETE", "/v1/workspaces/" + _quote(ident(workspace_id)))

    def set_member(self, workspace_id, username, role):
        """Sets a user's role in a workspace: "viewer", "editor", "owner" or "none" (removes)."""
        return self._request_json("PUT", "/v1/workspaces/%s/members/%s" % (_quote(ident(workspace_id)),
                                                                           _quote(username)), body={"role": role})

    # ------------------------------------------------------------------ datasets

    def upload_dataset(self, source, name=None, workspace=None):
        """Uploads a CSV dataset from a file path, bytes, a binary file object, a pandas DataFrame
        or a list of dicts. name defaults to the file's name (else "dataset")."""
        if name is None:
            if isinstance(source, (str, os.PathLike)):
                name = os.path.splitext(os.path.basename(os.fspath(source)))[0]
            elif isinstance(getattr(source, "name", None), str):
                name = os.path.splitext(os.path.basename(source.name))[0]
        query = {"workspace": self._ws(workspace), "name": name}
        return Dataset(self, self._upload("/v1/datasets", query, source, "text/csv"))

    def datasets(self, workspace=None):
        data = self._get_json("/v1/datasets", {"workspace": self._ws(workspace)})
        return [Dataset(self, d) for d in data["datasets"]]

    def dataset(self, dataset_id):
        return Dataset(self, self._get_json("/v1/datasets/" + _quote(ident(dataset_id))))

    def delete_dataset(self, dataset_id):
        return self._request_json("DELETE", "/v1/datasets/" + _quote(ident(dataset_id)))

    def preview_dataset(self, dataset_id, rows=20, offset=0, as_frame=False):
        """Rows of a dataset: {"columns", "rows" (lists of strings, None = missing), "offset",
        "total_rows"}, or a DataFrame with as_frame=True."""
        data = self._get_json("/v1/datasets/%s/preview" % _quote(ident(dataset_id)),
                              {"rows": rows, "offset": offset})
        if as_frame:
            return _rows.frame(data["rows"], columns=data["columns"])
        return data

    def download_dataset(self, dataset_id, path=None, as_frame=False):
        """The dataset's CSV: bytes, or written to path (returns path), or a DataFrame with
        as_frame=True."""
        if as_frame:
            pd = _rows.pandas_module(required=True)
        resp = self._request("GET", "/v1/datasets/%s/download" % _quote(ident(dataset_id)), accept="text/csv",
                             stream=path is not None)
        if path is not None:
            _save(resp, path)
            return path
        payload = resp[2]
        if as_frame:
            return pd.read_csv(io.BytesIO(payload))
        return payload

    # ------------------------------------------------------------------ trainees

    def create_trainee(self, dataset, name=None, features=None, workspace=None, wait=False, timeout=None):
        """Creates a trainee from a dataset; its train job (trainee.job) fills it. features
        overrides the inferred schema: {"column": {"type": "nominal", "ignored": true,
        "order": [...]}}. wait=True waits until it is ready."""
        ds = ident(dataset)
        if name is None:
            name = dataset.name if isinstance(dataset, Dataset) and dataset.name else ds
        body = _drop_none({"name": name, "dataset": ds, "features": features})
        reply = self._request_json("POST", "/v1/trainees", {"workspace": self._ws(workspace)}, body=body)
        t = Trainee(self, reply["trainee"])
        t.job = Job(self, reply["job"])
        if wait:
            t.wait_ready(timeout=timeout)
        return t

    def trainees(self, workspace=None):
        data = self._get_json("/v1/trainees", {"workspace": self._ws(workspace)})
        return [Trainee(self, t) for t in data["trainees"]]

    def trainee(self, trainee_id):
        return Trainee(self, self._get_json("/v1/trainees/" + _quote(ident(trainee_id))))

    def delete_trainee(self, trainee_id):
        return self._request_json("DELETE", "/v1/trainees/" + _quote(ident(trainee_id)))

    def export_trainee(self, trainee_id, path=None):
        """The trainee file: written to path (returns path), or bytes."""
        resp = self._request("GET", "/v1/trainees/%s/export" % _quote(ident(trainee_id)),
                             accept="application/octet-stream", stream=path is not None)
        if path is not None:
            _save(resp, path)
            return path
        return resp[2]

    def import_trainee(self, source, name=None, workspace=None):
        """Imports a trainee file (a path, bytes or a binary file object) as a new trainee."""
        query = {"workspace": self._ws(workspace), "name": name}
        return Trainee(self, self._upload("/v1/trainees/import", query, source, "application/octet-stream"))

    def predict(self, trainee, rows, targets, contexts=None, details=None, as_frame=False):
        """Predicts targets (a name or a list) for rows (a list of dicts or a DataFrame; missing
        features are fine). Returns a list with, per row, {"values": {target: value},
        "uncertainty": {...}, "probabilities": {target: {class: p}} (nominal targets)} and, when
        asked in details ("cases", "contributions"), those. as_frame=True: a DataFrame with one
        column per target (numbers as numbers; the index of a DataFrame input).
        A column the trainee lacks raises CohortError (400, naming the nearest feature). A category
        the trainee never saw (a context it could not use) is listed in that row's "unknown"
        ([{"column", "value"}]) and warned about with UnseenValueWarning."""
        targets = [targets] if isinstance(targets, str) else list(targets)
        body = _drop_none({"targets": targets, "rows": _rows.to_records(rows),
                           "contexts": [contexts] if isinstance(contexts, str) else contexts,
                           "details": [details] if isinstance(details, str) else details})
        reply = self._request_json("POST", "/v1/trainees/%s/predict" % _quote(ident(trainee)), body=body)
        preds = reply["predictions"]
        _warn_unseen(preds)
        if as_frame:
            return _rows.frame([p["values"] for p in preds], columns=targets,
                               index=rows.index if _rows.is_frame(rows) else None)
        return preds

    def anomalies(self, trainee, rows=None, top=None, as_frame=False):
        """Anomaly scores. With rows: one {"row", "distance_contribution", "conviction"} per row,
        in order (None scores where the server could not score a row). Without: the trainee's
        `top` (default 20) most surprising cases, {"case", ...}, lowest conviction first.
        as_frame=True: a DataFrame of those."""
        body = _drop_none({"top": top})
        if rows is not None:
            body["rows"] = _rows.to_records(rows)
        reply = self._request_json("POST", "/v1/trainees/%s/anomalies" % _quote(ident(trainee)), body=body)
        if rows is not None:
            # One entry per input row, in order, even where the server left a row out (it drops
            # rows whose scores are not finite): those get None scores.
            by_row = {s.get("row"): s for s in reply.get("rows") or []}
            scores = [by_row.get(i) or {"row": i, "distance_contribution": None, "conviction": None}
                      for i in range(len(body["rows"]))]
        else:
            scores = reply.get("cases")
        if as_frame:
            return _rows.frame(scores, index=rows.index if _rows.is_frame(rows) else None)
        return scores

    def impute_rows(self, trainee, rows, as_frame=False):
        """rows with their missing cells (None/NaN) filled. Values come back as text (None where
        nothing could be filled); as_frame=True gives a DataFrame with numbers as numbers, the
        input's column order and index."""
        records = _rows.to_records(rows)
        reply = self._request_json("POST", "/v1/trainees/%s/impute-rows" % _quote(ident(trainee)),
                                   body={"rows": records})
        out = reply["rows"]
        if as_frame:
            cols = [str(c) for c in rows.columns] if _rows.is_frame(rows) else None
            return _rows.frame(out, columns=cols, index=rows.index if _rows.is_frame(rows) else None)
        return out

    def importance(self, trainee, target, sample=None):
        """Feature importance for a target: {feature: importance}."""
        reply = self._get_json("/v1/trainees/%s/importance" % _quote(ident(trainee)),
                               {"target": target, "sample": sample})
        return reply["importance"]

    # ------------------------------------------------------------------ jobs

    def jobs(self, workspace=None, trainee=None, state=None, limit=None):
        """Jobs of a workspace, newest first (filters: trainee, state, limit up to 1000)."""
        query = {"workspace": self._ws(workspace), "trainee": ident(trainee) if trainee is not None else None,
                 "state": state, "limit": limit}
        return [Job(self, j) for j in self._get_json("/v1/jobs", query)["jobs"]]

    def job(self, job_id):
        return Job(self, self._get_json("/v1/jobs/" + _quote(ident(job_id))))

    def cancel_job(self, job_id):
        """Asks to cancel a job; returns the Job as it is now. A finished job: CohortError 409."""
        return Job(self, self._request_json("POST", "/v1/jobs/%s/cancel" % _quote(ident(job_id))))

    def wait_job(self, job_id, timeout=None, progress=None, raise_on_failure=True):
        job = job_id if isinstance(job_id, Job) else self.job(job_id)
        return job.wait(timeout=timeout, progress=progress, raise_on_failure=raise_on_failure)

    def job_events(self, job_id):
        """Yields a job's Server-Sent Events as Event(event, data, id): "job" events carry the job
        record as data, the first at once; the stream ends after the job ends."""
        resp = self._request("GET", "/v1/jobs/%s/events" % _quote(ident(job_id)), accept="text/event-stream",
                             stream=True)
        try:
            for ev in parse_sse(iter(resp.readline, b"")):
                yield ev
        except OSError as e:
            raise CohortConnectionError("job events: %s" % e, "GET", "/v1/jobs/%s/events" % ident(job_id), e) from None
        finally:
            resp.close()

    # ------------------------------------------------------------------ evaluate and reports

    def evaluate(self, real, synthetic, holdout=None, target=None, workspace=None):
        """Compares two datasets (an evaluate job whose result names a report)."""
        ws = self._ws(workspace)
        if ws is None and isinstance(real, Dataset):
            ws = real.workspace_id
        body = _drop_none({"real": ident(real), "synthetic": ident(synthetic),
                           "holdout": ident(holdout) if holdout is not None else None, "target": target})
        return Job(self, self._request_json("POST", "/v1/evaluate", {"workspace": ws}, body=body)["job"])

    def reports(self, workspace=None, trainee=None):
        query = {"workspace": self._ws(workspace), "trainee": ident(trainee) if trainee is not None else None}
        return [Report(self, r) for r in self._get_json("/v1/reports", query)["reports"]]

    def report(self, report_id):
        """A report with its summary and full evaluation."""
        return Report(self, self._get_json("/v1/reports/" + _quote(ident(report_id))))

    def report_html(self, report_id):
        """The report as a self-contained HTML page (str)."""
        payload = self._request("GET", "/v1/reports/%s/html" % _quote(ident(report_id)), accept="text/html")[2]
        return payload.decode("utf-8")

    def delete_report(self, report_id):
        return self._request_json("DELETE", "/v1/reports/" + _quote(ident(report_id)))

    # ------------------------------------------------------------------ fan-out helpers

    def map_predict(self, trainee, rows, targets, chunk_size=1000, workers=4, as_frame=False, **kw):
        """predict() over rows in chunks of chunk_size on `workers` threads; the results come back
        in the rows' order, as one list (or one DataFrame with as_frame=True)."""
        if chunk_size < 1 or workers < 1:
            raise ValueError("chunk_size and workers must be at least 1")
        n = _rows.nrows(rows)
        chunks = [_rows.slice_rows(rows, i, i + chunk_size) for i in range(0, n, chunk_size)]
        if not chunks:
            raise ValueError("rows: empty")

        def one(chunk):
            return self.predict(trainee, chunk, targets, as_frame=as_frame, **kw)

        with concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, len(chunks))) as pool:
            parts = list(pool.map(one, chunks))
        if as_frame:
            return _rows.pandas_module(required=True).concat(parts)
        return [p for part in parts for p in part]

    def map_synthesize(self, trainee, total_rows, chunk_rows, workers=4, seed=1, timeout=None, as_frame=False,
                       **params):
        """Synthesizes total_rows rows as jobs of chunk_rows rows (chunk i uses seed + i), up to
        `workers` at once; returns the synthetic Datasets in order (each .job is its job), or one
        DataFrame of all rows with as_frame=True. Other params go to Trainee.synthesize; evaluate
        defaults to False here (no report per chunk)."""
        if total_rows < 1 or chunk_rows < 1 or workers < 1:
            raise ValueError("total_rows, chunk_rows and workers must be at least 1")
        if as_frame:
            _rows.pandas_module(required=True)
        params.setdefault("evaluate", False)
        tr = trainee if isinstance(trainee, Trainee) else self.trainee(trainee)
        sizes = [min(chunk_rows, total_rows - start) for start in range(0, total_rows, chunk_rows)]

        def one(i):
            job = tr.synthesize(rows=sizes[i], seed=seed + i, **params).wait(timeout=timeout)
            ds = job.dataset()
            ds.job = job
            return ds

        with concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, len(sizes))) as pool:
            datasets = list(pool.map(one, range(len(sizes))))
        if as_frame:
            pd = _rows.pandas_module(required=True)
            return pd.concat([d.download(as_frame=True) for d in datasets], ignore_index=True)
        return datasets


def _drop_none(d):
    return {k: v for k, v in d.items() if v is not None}


def _token_id(t):
    if isinstance(t, dict):
        return t["id"]
    return t


def _save(resp, path):
    tmp = "%s.part" % os.fspath(path)
    try:
        with resp, open(tmp, "wb") as f:
            while True:
                block = resp.read(1 << 16)
                if not block:
                    break
                f.write(block)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
