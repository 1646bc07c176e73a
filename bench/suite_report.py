#!/usr/bin/python3
"""Renders the broad suite (bench_suite + suite_sklearn.py outputs in OUT_DIR) as bench/SUITE.md.

  /usr/bin/python3 bench/suite_report.py OUT_DIR SUITE.md [--threads N] [--repo DIR]

A table missing from one side shows "–" in that side's columns."""
import argparse
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import fmt, load, machine  # noqa: E402

# Issue 11's bars.
TSTR_GAP_MAX, TSTR_GAP_MAX_ADULT = 0.03, 0.015
QUALITY_MIN, DCR_MIN = 0.95, 0.95


def diff(a, b):
    return "–" if a is None or b is None else f"{a - b:+.4f}"


def mark(ok):
    return "–" if ok is None else ("yes" if ok else "**no**")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("suite_md")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repo", default=".")
    a = ap.parse_args()
    co = load(os.path.join(a.out_dir, "cohort_suite.json")) or {}
    sk = load(os.path.join(a.out_dir, "sklearn_suite.json")) or {}
    names = list(co) + [n for n in sk if n not in co]
    model, commit, _ = machine(a.repo)
    try:
        loads = [open(os.path.join(a.out_dir, f)).read().split()[:3] for f in ("loadavg_start", "loadavg_end")]
        load_s = " / ".join(" ".join(x) for x in loads)
    except OSError:
        load_s = "unknown"
    L = ["# Cohort broad suite: prediction and synthesis on every shared table", "",
         "Written by `bash bench/run.sh` (stages `bench_suite` and `suite_sklearn`, part of `make bench`); "
         "every run overwrites it.", "",
         f"- date: {datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M')} UTC",
         f"- machine: {os.cpu_count()} CPUs, {model}; threads used by every side: {a.threads}",
         f"- git commit: {commit}",
         f"- load average at start / end: {load_s} (other work on the machine makes timings noisy)", "",
         "## Prediction", "",
         "Cohort: infer the schema, train, analyze for the target, react on the test rows (`bench_suite`, "
         "public API). Peers (`suite_sklearn.py`, scikit-learn 1.2): majority class / training mean; k-NN "
         "(StandardScaler + one-hot) tuned by 5-fold GridSearchCV over n_neighbors × weights; "
         "HistGradientBoosting with default settings (categorical features declared). Accuracy when the "
         "engine infers the target as categorical, R² otherwise. Same rows on every side.", "",
         "| table | train / test rows | features | target (type) | metric | baseline | cohort | tuned k-NN "
         "| gradient boosting | cohort − k-NN | cohort − GBM | cohort k, p | k-NN best |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    n_knn = n_gbm = n_base = n = 0
    for name in names:
        c, s = co.get(name, {}), sk.get(name, {})
        cs = c.get("cohort_score")
        kp = s.get("knn_params") or {}
        L.append(f"| {name} | {c.get('train_rows', s.get('train_rows', '–')):,} / "
                 f"{c.get('test_rows', s.get('test_rows', '–')):,} | {c.get('features', 1) - 1} | "
                 f"{c.get('target', s.get('target', '–'))} ({c.get('target_type', '–')}) | "
                 f"{c.get('metric', s.get('metric', '–'))} | {fmt(s.get('baseline'))} | **{fmt(cs)}** | "
                 f"{fmt(s.get('knn'))} | {fmt(s.get('gbm'))} | {diff(cs, s.get('knn'))} | {diff(cs, s.get('gbm'))} | "
                 f"{c.get('k', '–')}, {c.get('p', '–')} | "
                 f"{('k=%s, %s' % (kp.get('n_neighbors'), kp.get('weights'))) if kp else '–'} |")
        if cs is not None and s:
            n += 1
            n_base += cs >= s["baseline"]
            n_knn += cs >= s["knn"] - 1e-9
            n_gbm += cs >= s["gbm"] - 0.01
    L += ["", f"Bars (issue 11): at or above the baseline on {n_base} of {n} tables; at or above tuned k-NN on "
          f"{n_knn} of {n}; within 0.01 of gradient boosting (or above) on {n_gbm} of {n} (goal: at least half).",
          "", "## Synthesis", "",
          "Synthesis has a split of its own: SDMetrics' DCROverfittingProtection counts synthetic rows "
          "closer to the training rows than to a holdout and assumes the two sets are about the same size "
          "(with the 80/20 prediction split a generator that never saw either would score 0.4). So each "
          "table is halved (data row i to the training half when i % 2 == 0; adult keeps adult_train / "
          "adult_test), a trainee is trained and analyzed for the target on the half and synthesizes as "
          "many rows (seed 7), evaluated against the half with the other half as holdout "
          "(`cohort_evaluate`). TSTR / TRTR: gradient boosting (defaults) trained on the synthetic rows / "
          "on the real half, both scored on the holdout. Copies: synthetic rows equal by value to a "
          "training row that occurs fewer than k times (rare: a privacy risk) / at least k times (common).",
          "",
          "| table | rows × columns (holdout) | quality | DCR overfitting protection | copies rare / common | "
          "TSTR GBM | TRTR GBM | gap | TSTR / TRTR engine k-NN | analyze + synthesize s | bars met |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        c, s = co.get(name, {}), sk.get(name, {})
        if "quality" not in c:
            continue
        q, dcr, gap = c.get("quality"), c.get("dcr_overfitting"), s.get("tstr_gap")
        gap_max = TSTR_GAP_MAX_ADULT if name == "adult" else TSTR_GAP_MAX
        oks = [q is not None and q >= QUALITY_MIN, dcr is not None and dcr >= DCR_MIN,
               c.get("identical_rare") == 0, None if gap is None else gap <= gap_max]
        failed = [lbl for lbl, ok in zip(("quality", "DCR", "rare copies", "TSTR gap"), oks) if ok is False]
        L.append(f"| {name} | {c.get('synth_train_rows', 0):,} × {c.get('features', '–')} "
                 f"({c.get('synth_holdout_rows', 0):,}) | {fmt(q)} | {fmt(dcr)} | "
                 f"{c.get('identical_rare', '–')} / {c.get('identical_common', '–')} | {fmt(s.get('tstr_gbm'))} | "
                 f"{fmt(s.get('trtr_gbm'))} | {fmt(gap, '+.4f')} | {fmt(c.get('tstr_engine'))} / "
                 f"{fmt(c.get('trtr_engine'))} | {fmt(c.get('synth_analyze_seconds'), '.1f')} + "
                 f"{fmt(c.get('synth_seconds'), '.1f')} | "
                 f"{'all' if not failed else 'not ' + ', '.join(failed)} |")
    L += ["", f"Bars (issue 11): quality ≥ {QUALITY_MIN}, DCR overfitting protection ≥ {DCR_MIN}, no rare copies, "
          f"TSTR within {TSTR_GAP_MAX} of TRTR ({TSTR_GAP_MAX_ADULT} on adult). For R² targets the gap is in R².", ""]
    with open(a.suite_md, "w") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    main()
