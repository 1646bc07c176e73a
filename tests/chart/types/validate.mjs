// The value checks of the chart test (tests/chart/test_chart.py): the validators that
// @kubernetes-models compiles from the OpenAPI and CRD schemas (patterns, formats such as int32
// and quantity, enums, integer vs number) over the objects in the JSON array on stdin. They
// accept unknown fields, which tsc --strict refuses instead. Prints "INDEX: errors" for each
// failing object; exits 1 if any failed.
import { readFileSync } from "node:fs";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { CronJob } from "kubernetes-models/batch/v1/CronJob";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1/Ingress";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";

const models = [ScaledObject, ServiceMonitor, HorizontalPodAutoscaler, Deployment, CronJob, Ingress, NetworkPolicy,
  PodDisruptionBudget, ConfigMap, Service, ServiceAccount];
let failed = 0;
JSON.parse(readFileSync(0, "utf8")).forEach((o, i) => {
  const Model = models.find((m) => m.apiVersion === o.apiVersion && m.kind === o.kind);
  try {
    if (!Model) throw new Error(`no model for ${o.apiVersion} ${o.kind}`);
    new Model(o).validate();
  } catch (e) {
    console.log(`${i}: ${e.message}`);
    failed++;
  }
});
process.exit(failed ? 1 : 0);
