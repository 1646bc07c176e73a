"""Exceptions raised by the client."""


class CohortError(Exception):
    """An error answer from the server, or a failure to reach it.

    status  -- the HTTP status (None when the server could not be reached or for a failed job)
    code    -- the server's error code ("invalid", "not_found", "conflict", ...)
    message -- the server's message
    field   -- the request field the error is about, or None
    body    -- the parsed error body when there was one
    """

    def __init__(self, status, code, message, field=None, body=None, method=None, path=None):
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.body = body
        self.method = method
        self.path = path
        where = "%s %s: " % (method, path) if method and path else ""
        text = "%s%s%s: %s" % (where, "%s " % status if status is not None else "", code, message)
        if field:
            text += " (field: %s)" % field
        super().__init__(text)


class CohortConnectionError(CohortError):
    """The server could not be reached, or the connection broke (status and field are None)."""

    def __init__(self, message, method=None, path=None, cause=None):
        super().__init__(None, "connection", message, None, None, method, path)
        self.cause = cause


class JobFailedError(CohortError):
    """A waited-for job ended failed or cancelled; .job is the finished Job."""

    def __init__(self, job):
        self.job = job
        state = job.state
        code = "job_cancelled" if state == "cancelled" else "job_failed"
        super().__init__(None, code, "job %s (%s) %s: %s" % (job.id, job.kind, state, job.error or state))


class WaitTimeoutError(TimeoutError):
    """Waiting for a job or a trainee took longer than allowed.

    .resource is the Job or Trainee waited for, .timeout the limit in seconds.
    """

    def __init__(self, message, resource=None, timeout=None):
        super().__init__(message)
        self.resource = resource
        self.timeout = timeout
