"""Objects for the server's records: Workspace, Dataset, Trainee, Job, Report.

Each wraps the JSON record the server returned (.data, also item access: obj["rows"]) and the
Client it came from; refresh() reloads it.
"""
import time

from . import _rows
from .errors import JobFailedError, WaitTimeoutError

TERMINAL_STATES = ("succeeded", "failed", "cancelled")


def ident(obj):
    """The id of a resource object, or obj itself when it is already an id string."""
    if isinstance(obj, Resource):
        return obj.id
    if isinstance(obj, str) and obj:
        return obj
    raise TypeError("expected an id or a %s object, got %r" % ("resource", obj))


class Resource:
    _kind = "resource"

    def __init__(self, client, data):
        self._client = client
        self.data = dict(data or {})

    @property
    def id(self):
        return self.data.get("id")

    @property
    def client(self):
        return self._client

    def __getitem__(self, key):
        return self.data[key]

    def get(self, key, default=None):
        return self.data.get(key, default)

    def to_dict(self):
        return dict(self.data)

    def __eq__(self, other):
        return type(other) is type(self) and other.id == self.id

    def __hash__(self):
        return hash((type(self).__name__, self.id))

    def __repr__(self):
        name = self.data.get("name")
        return "<%s %s%s>" % (type(self).__name__, self.id, " %r" % name if name else "")

    def _update(self, data):
        self.data = dict(data)
        return self


class Workspace(Resource):
    """A workspace. From a list it carries the caller's role; from get() also its members."""

    _kind = "workspace"

    @property
    def name(self):
        return self.data.get("name")

    @property
    def role(self):
        return self.data.get("role")

    @property
    def members(self):
        """[{"workspace", "workspace_name", "user", "role"}] (fetched when not loaded yet)."""
        if "members" not in self.data:
            self.refresh()
        return self.data.get("members", [])

    def refresh(self):
        return self._update(self._client.workspace(self.id).data)

    def delete(self):
        return self._client.delete_workspace(self.id)

    def set_member(self, username, role):
        return self._client.set_member(self.id, username, role)

    def datasets(self):
        return self._client.datasets(workspace=self.id)

    def trainees(self):
        return self._client.trainees(workspace=self.id)

    def jobs(self, **kw):
        return self._client.jobs(workspace=self.id, **kw)

    def reports(self, **kw):
        return self._client.reports(workspace=self.id, **kw)

    def upload_dataset(self, source, name=None):
        return self._client.upload_dataset(source, name=name, workspace=self.id)


class Dataset(Resource):
    """A CSV dataset and its inferred schema."""

    _kind = "dataset"
    job = None  # the synthesize job that made it, when it came from one (map_synthesize)

    @property
    def name(self):
        return self.data.get("name")

    @property
    def workspace_id(self):
        return self.data.get("workspace")

    @property
    def rows(self):
        return self.data.get("rows")

    @property
    def columns(self):
        return self.data.get("columns")

    @property
    def schema(self):
        """The inferred schema: a list of {"name", "type", ...} (lists leave it out: fetched then)."""
        if self.data.get("schema") is None:
            self.refresh()
        return self.data.get("schema")

    def refresh(self):
        return self._update(self._client.dataset(self.id).data)

    def delete(self):
        return self._client.delete_dataset(self.id)

    def preview(self, rows=20, offset=0, as_frame=False):
        return self._client.preview_dataset(self.id, rows=rows, offset=offset, as_frame=as_frame)

    def download(self, path=None, as_frame=False):
        return self._client.download_dataset(self.id, path=path, as_frame=as_frame)

    def records(self):
        """All rows as a list of dicts of strings (an empty cell is None)."""
        return _rows.csv_to_records(self._client.download_dataset(self.id))


class Job(Resource):
    """A background job (train, analyze, impute, synthesize, evaluate)."""

    _kind = "job"

    @property
    def kind(self):
        return self.data.get("kind")

    @property
    def state(self):
        return self.data.get("state")

    @property
    def progress(self):
        return self.data.get("progress")

    @property
    def stage(self):
        return self.data.get("stage")

    @property
    def params(self):
        return self.data.get("params")

    @property
    def result(self):
        return self.data.get("result")

    @property
    def error(self):
        return self.data.get("error")

    @property
    def trainee_id(self):
        return self.data.get("trainee")

    @property
    def done(self):
        return self.state in TERMINAL_STATES

    @property
    def succeeded(self):
        return self.state == "succeeded"

    def refresh(self):
        return self._update(self._client._get_json("/v1/jobs/" + self.id))

    def cancel(self):
        """Asks the server to cancel the job (a queued job ends at once, a running one soon)."""
        return self._update(self._client.cancel_job(self.id).data)

    def events(self):
        """Yields the job's server-sent events (Event(event, data, id)); "job" events also update
        this object. Ends when the job ends."""
        for ev in self._client.job_events(self.id):
            if ev.event == "job" and isinstance(ev.data, dict):
                self._update(ev.data)
            yield ev

    def wait(self, timeout=None, progress=None, poll_interval=None, raise_on_failure=True):
        """Waits until the job ends and returns self.

        timeout: seconds (None: the client's wait_timeout, from COHORT_WAIT_TIMEOUT, default 600;
        math.inf waits for ever); past it, WaitTimeoutError (a TimeoutError) is raised.
        progress: called with this Job whenever its state, stage or progress changed.
        poll_interval: fixed seconds between polls (default: from 0.05 s growing to 1 s).
        raise_on_failure: raise JobFailedError when the job failed or was cancelled.
        """
        limit = self._client._wait_limit(timeout)
        deadline = time.monotonic() + limit
        interval = poll_interval if poll_interval is not None else 0.05
        last = None
        if not self.done:
            self.refresh()
        while True:
            key = (self.state, self.stage, self.progress)
            if progress is not None and key != last:
                last = key
                progress(self)
            if self.done:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeoutError("job %s (%s) still %s after %gs (stage %s, progress %.0f%%)"
                                       % (self.id, self.kind, self.state, limit, self.stage,
                                          100 * (self.progress or 0)), self, limit)
            time.sleep(min(interval, remaining))
            if poll_interval is None:
                interval = min(interval * 1.5, 1.0)
            self.refresh()
        if raise_on_failure and not self.succeeded:
            raise JobFailedError(self)
        return self

    # outputs
    def dataset(self):
        """The dataset a synthesize job made (None before it succeeded)."""
        rid = (self.result or {}).get("dataset")
        return self._client.dataset(rid) if rid else None

    def report(self):
        """The report a synthesize or evaluate job made (None when there is none)."""
        rid = (self.result or {}).get("report")
        return self._client.report(rid) if rid else None

    def trainee(self):
        return self._client.trainee(self.trainee_id) if self.trainee_id else None


class Report(Resource):
    """A quality and privacy report: .summary (scores), .evaluation (the full document)."""

    _kind = "report"

    @property
    def summary(self):
        return self.data.get("summary") or {}

    @property
    def quality(self):
        return self.summary.get("quality")

    @property
    def evaluation(self):
        """The full evaluation (lists leave it out: fetched then)."""
        if "evaluation" not in self.data:
            self.refresh()
        return self.data.get("evaluation")

    @property
    def trainee_id(self):
        return self.data.get("trainee")

    @property
    def job_id(self):
        return self.data.get("job")

    def refresh(self):
        return self._update(self._client.report(self.id).data)

    def html(self):
        return self._client.report_html(self.id)

    def delete(self):
        return self._client.delete_report(self.id)


class Trainee(Resource):
    """An instance-based model. Jobs change it (train, analyze, impute); questions (predict,
    anomalies, impute_rows, importance) are answered at once."""

    _kind = "trainee"
    job = None  # the train job that fills a trainee made by Client.create_trainee

    @property
    def name(self):
        return self.data.get("name")

    @property
    def workspace_id(self):
        return self.data.get("workspace")

    @property
    def dataset_id(self):
        return self.data.get("dataset")

    @property
    def version(self):
        return self.data.get("version", 0)

    @property
    def ready(self):
        return bool(self.data.get("ready"))

    @property
    def info(self):
        return self.data.get("info") or {}

    def refresh(self):
        return self._update(self._client._get_json("/v1/trainees/" + self.id))

    def delete(self):
        return self._client.delete_trainee(self.id)

    def wait_ready(self, timeout=None, poll_interval=None):
        """Waits until the trainee is trained (version >= 1) and returns self. When its train job
        is known (create_trainee) and fails, JobFailedError; past timeout (None: the client's
        wait_timeout), WaitTimeoutError."""
        limit = self._client._wait_limit(timeout)
        start = time.monotonic()
        if not self.ready and self.job is not None:
            try:
                self.job.wait(timeout=limit, poll_interval=poll_interval)
            except WaitTimeoutError:
                raise WaitTimeoutError("trainee %s not ready after %gs: its train job %s is still %s"
                                       % (self.id, limit, self.job.id, self.job.state), self, limit) from None
        interval = poll_interval if poll_interval is not None else 0.05
        while True:
            self.refresh()
            if self.ready:
                return self
            remaining = limit - (time.monotonic() - start)
            if remaining <= 0:
                raise WaitTimeoutError("trainee %s not ready after %gs" % (self.id, limit), self, limit)
            failed = self._client.jobs(workspace=self.workspace_id, trainee=self.id, state="failed", limit=1)
            if failed and failed[0].kind == "train" and self.version == 0:
                raise JobFailedError(failed[0])
            time.sleep(min(interval, remaining))
            if poll_interval is None:
                interval = min(interval * 1.5, 1.0)

    def export(self, path=None):
        """The trainee file: written to path (returns path) or returned as bytes."""
        return self._client.export_trainee(self.id, path)

    # jobs
    def train(self, dataset):
        return self._job("train", {"dataset": ident(dataset)})

    def analyze(self, targets=None, k_values=None, p_values=None, sample=None, seed=None):
        return self._job("analyze", {"targets": _names(targets), "k_values": k_values, "p_values": p_values,
                                     "sample": sample, "seed": seed})

    def impute(self):
        """Fills the missing values of the trainee's own cases (a job)."""
        return self._job("impute", {})

    def synthesize(self, rows=None, seed=None, conviction=None, k=None, privacy=None, fixed=None,
                   evaluate=None, holdout=None, target=None):
        """Synthetic rows as a new dataset and, unless evaluate=False, a report (a job; see
        Job.dataset() and Job.report()). privacy: "reference", "local" or "off"."""
        return self._job("synthesize", {"rows": rows, "seed": seed, "conviction": conviction, "k": k,
                                        "privacy": privacy, "fixed": fixed, "evaluate": evaluate,
                                        "holdout": ident(holdout) if holdout is not None else None,
                                        "target": target})

    def _job(self, kind, params):
        body = {k: v for k, v in params.items() if v is not None}
        reply = self._client._request_json("POST", "/v1/trainees/%s/%s" % (self.id, kind), body=body)
        if isinstance(reply.get("trainee"), dict):
            self._update(reply["trainee"])
        return Job(self._client, reply["job"])

    # questions
    def predict(self, rows, targets, contexts=None, details=None, as_frame=False):
        return self._client.predict(self, rows, targets, contexts=contexts, details=details, as_frame=as_frame)

    def anomalies(self, rows=None, top=None, as_frame=False):
        return self._client.anomalies(self, rows=rows, top=top, as_frame=as_frame)

    def impute_rows(self, rows, as_frame=False):
        return self._client.impute_rows(self, rows, as_frame=as_frame)

    def importance(self, target, sample=None):
        return self._client.importance(self, target, sample=sample)

    def jobs(self, **kw):
        return self._client.jobs(workspace=self.workspace_id, trainee=self.id, **kw)

    def reports(self):
        return self._client.reports(workspace=self.workspace_id, trainee=self.id)


def _names(names):
    if names is None or isinstance(names, str):
        return [names] if isinstance(names, str) else None
    return list(names)
