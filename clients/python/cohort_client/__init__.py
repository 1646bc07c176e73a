"""Python client for the Cohort server's REST API (standard library only; pandas optional).

    from cohort_client import Client
    c = Client("http://127.0.0.1:8080", token="...")      # or COHORT_URL / COHORT_TOKEN
    ds = c.upload_dataset("penguins.csv")
    tr = c.create_trainee(ds, features={"species": {"type": "nominal"}}, wait=True)
    tr.predict([{"island": "Biscoe", "bill_length_mm": 45}], ["species"])
"""
from ._sse import Event, parse_sse
from .client import DEFAULT_URL, DEFAULT_WAIT_TIMEOUT, VERSION, Client, UnseenValueWarning
from .errors import CohortConnectionError, CohortError, JobFailedError, WaitTimeoutError
from .resources import Dataset, Job, Report, Resource, Trainee, Workspace

__version__ = VERSION

__all__ = [
    "Client", "CohortError", "CohortConnectionError", "JobFailedError", "WaitTimeoutError", "Resource", "Workspace",
    "Dataset", "Trainee", "Job", "Report", "Event", "parse_sse", "DEFAULT_URL", "DEFAULT_WAIT_TIMEOUT",
    "UnseenValueWarning", "__version__",
]
