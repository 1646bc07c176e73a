#!/usr/bin/python3
"""Renders the outputs of bench/run.sh (OUT_DIR) as the markdown table in bench/RESULTS.md.

  /usr/bin/python3 bench/report.py OUT_DIR RESULTS.md [--threads N] [--repo DIR] [--sections LIST]

Missing or failed stages show as "pending" with the reason from OUT_DIR/notes.txt.
--sections quality,knn,synth (default: all) renders only those sections from OUT_DIR and keeps the
others as they stand in the existing RESULTS.md (run.sh passes it when COHORT_BENCH_STAGES runs a
subset of the stages); the header says which sections come from an earlier run."""
import argparse
import datetime
import json
import os
import re
import subprocess


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt(v, spec=".4f", none="–"):
    if v is None:
        return none
    if isinstance(v, float) and v != v:
        return none
    return format(v, spec)


def ratio(a, b, spec=".2f"):
    if a is None or b is None or not b:
        return "–"
    return format(a / b, spec) + "×"


def mib(b):
    return None if b is None else b / 1048576.0


def time_v(path):
    """Peak RSS (bytes) and wall seconds from a /usr/bin/time -v report."""
    try:
        text = open(path).read()
    except OSError:
        return None, None
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    secs = None
    if wall:
        parts = [float(p) for p in wall.group(1).split(":")]
        secs = 0.0
        for p in parts:
            secs = secs * 60 + p
    return (int(rss.group(1)) * 1024 if rss else None), secs


def machine(repo):
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", repo, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True).stdout.strip() or "none (no commit yet)"
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        if dirty:
            commit += " + uncommitted changes"
    except OSError:
        commit = "unknown"
    blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    kind = "OpenBLAS" if "openblas" in blas else "reference BLAS (Netlib)" if "/blas/" in blas else blas
    return model, commit, f"{kind} ({blas})"


# Sections of RESULTS.md that come from stages, keyed by the start of their heading.
SECTIONS = {"quality": "## Prediction quality", "knn": "## Exact k=10", "synth": "## Adult end to end"}


def split_sections(lines):
    """{key or heading: [lines]} for each '## ' section of a rendered RESULTS.md (header under '')."""
    out, key = {"": []}, ""
    for ln in lines:
        if ln.startswith("## "):
            key = next((k for k, h in SECTIONS.items() if ln.startswith(h)), ln)
            out[key] = []
        out[key].append(ln)
    return out


def keep_old_sections(L, results, chosen):
    """Replaces the sections not in chosen by the ones in the existing results file."""
    try:
        old = split_sections(open(results).read().split("\n"))
    except OSError:
        return L
    new = split_sections(L)
    kept = [k for k in SECTIONS if k not in chosen and k in old]
    if not kept:
        return L
    hdr = new[""]
    at = next((i for i, ln in enumerate(hdr) if ln.startswith("- BLAS")), len(hdr) - 1) + 1
    hdr.insert(at, f"- sections not rerun, kept from the previous {os.path.basename(results)}: "
               f"{'; '.join(old[k][0][3:] for k in kept)} (their figures may be from another date and commit)")
    out = []
    for key, lines in new.items():
        out += old[key] if key in kept else lines
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("results")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repo", default=".")
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help="comma-separated subset of " + ",".join(SECTIONS) + "; the others are kept from RESULTS")
    a = ap.parse_args()
    chosen = [s for s in a.sections.split(",") if s]
    bad = [s for s in chosen if s not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s) {', '.join(bad)}; known: {', '.join(SECTIONS)}")
    o = a.out
    sk = load(os.path.join(o, "sklearn.json")) or {}
    cq = load(os.path.join(o, "cohort_quality.json")) or {}
    kc = load(os.path.join(o, "knn", "knn_cohort.json")) or {}
    kp = load(os.path.join(o, "knn", "knn_peers.json")) or {}
    sy = load(os.path.join(o, "synth.json"))
    sl = load(os.path.join(o, "synth_load.json"))
    notes = [ln.strip() for ln in open(os.path.join(o, "notes.txt"))] if os.path.exists(
        os.path.join(o, "notes.txt")) else []
    stages = open(os.path.join(o, "stages.txt")).read().split("\n") if os.path.exists(
        os.path.join(o, "stages.txt")) else []
    la0 = open(os.path.join(o, "loadavg_start")).read().split()[:3] if os.path.exists(
        os.path.join(o, "loadavg_start")) else ["?"] * 3
    la1 = open(os.path.join(o, "loadavg_end")).read().split()[:3] if os.path.exists(
        os.path.join(o, "loadavg_end")) else ["?"] * 3
    model, commit, blas = machine(a.repo)

    L = []
    L.append("# Cohort benchmark results")
    L.append("")
    L.append("Written by `bash bench/run.sh <cohort-binary> <datasets-dir>` (`make bench`); every run overwrites it.")
    L.append("")
    L.append(f"- date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}")
    L.append(f"- machine: {os.cpu_count()} CPUs (nproc), {model}; threads used by every side: {a.threads}")
    L.append(f"- git commit: {commit}")
    L.append(f"- load average at start / end: {' '.join(la0)} / {' '.join(la1)} "
             "(other work on the machine makes timings noisy)")
    L.append(f"- BLAS behind numpy/FAISS: {blas}")
    L.append("")

    L.append("## Prediction quality (k-NN, same rows on both sides)")
    L.append("")
    L.append("Cohort: train, analyze for the target, react on the test rows (`bench_quality`, public API). "
             "scikit-learn: StandardScaler + OneHotEncoder + KNeighbors, GridSearchCV 5-fold over "
             "n_neighbors × weights (`sklearn_baseline.py`).")
    L.append("")
    L.append("| dataset | metric | cohort | sklearn | cohort − sklearn | cohort k, p | sklearn best | cohort s | sklearn s |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    sub_note = []
    for name in ["adult", "diamonds", "abalone", "penguins"]:
        c, s = cq.get(name), sk.get(name)
        if not c and not s:
            L.append(f"| {name} | – | pending | pending | – | – | – | – | – |")
            continue
        metric = (c or s)["metric"]
        cs = c.get("cohort_score") if c else None
        ss = s.get("sklearn_score") if s else None
        diff = fmt(cs - ss, "+.4f") if cs is not None and ss is not None else "–"
        kp_ = f"{c['k']}, {c['p']:g}" if c and c.get("p") is not None else "–"
        bp = f"k={s['best_params']['n_neighbors']}, {s['best_params']['weights']}" if s else "–"
        L.append(f"| {name} | {metric} | {fmt(cs, '.4f', 'pending')} | {fmt(ss, '.4f', 'pending')} | {diff} | {kp_} | "
                 f"{bp} | {fmt(c.get('seconds') if c else None, '.1f')} | {fmt(s.get('seconds') if s else None, '.1f')} |")
        if s and s.get("search_subsampled"):
            sub_note.append(f"{name}: grid search on {s['search_rows']:,} of {s['train_rows']:,} training rows, "
                            "best parameters refit on all of them")
    L.append("")
    L.append("Splits: adult = adult_train / adult_test; the others a fixed systematic 80/20 split "
             "(data row i, 0-based after dropping rows without a target, is a test row when i % 5 == 4), "
             "written once and read by both sides. `tests/test_quality_predict.c` asserts the engine's "
             "figures against floors taken from the sklearn column.")
    for n in sub_note:
        L.append(f"- {n}")
    L.append("")

    L.append("## Exact k=10 neighbour search, queries per second")
    L.append("")
    L.append("Same geometry on every side: the engine's scaled cases with its global feature weights and p = 2, "
             "dumped as float32 (categorical features one-hot with a = mcost·sqrt(w/2), so a mismatch costs "
             "w·mcost², exactly the engine's term). 10,000 queries drawn from the cases (self not excluded). "
             "kd_tree is timed on the first 2,000 queries. Ratio > 1 means the engine is faster.")
    L.append("")
    L.append("| data | cases × dims | cohort q/s | FAISS Flat q/s | sklearn brute q/s | sklearn kd_tree q/s | "
             "cohort / FAISS | cohort / brute | cohort / kd_tree | dist. mismatch vs FAISS | vs exact f64 |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in ["diamonds", "adult", "random"]:
        c, p = kc.get(name), kp.get(name)
        if not c and not p:
            L.append(f"| {name} | – | pending | pending | pending | pending | – | – | – | – | – |")
            continue
        cases = (c or p)["cases"]
        dims = (p or c)["dims"]
        cq_ = c.get("qps") if c else None
        fq = p.get("faiss_qps") if p else None
        bq = p.get("sklearn_brute_qps") if p else None
        kq = p.get("sklearn_kdtree_qps") if p else None
        mm = f"{p['engine_vs_faiss_dist_mismatch']:.0%} (ids {p['engine_vs_faiss_id_mismatch']:.0%})" if p else "–"
        me = f"{p['engine_vs_exact_dist_mismatch']:.0%} (ids {p['engine_vs_exact_id_mismatch']:.0%})" if p else "–"
        label = {"random": "random uniform"}.get(name, name)
        L.append(f"| {label} | {cases:,} × {dims} | {fmt(cq_, ',.0f', 'pending')} | {fmt(fq, ',.0f', 'pending')} | "
                 f"{fmt(bq, ',.0f', 'pending')} | {fmt(kq, ',.0f', 'pending')} | {ratio(cq_, fq)} | {ratio(cq_, bq)} | "
                 f"{ratio(cq_, kq)} | {mm} | {me} |")
    L.append("")
    extra = []
    for name in ["diamonds", "adult", "random"]:
        c = kc.get(name)
        if c:
            extra.append(f"{name}: {c['active_features']} of {c['features']} features weighted, "
                         f"1-thread {c['qps_1thread']:,.0f} q/s, targetless analyze (sample 500) {c['analyze_seconds']:.1f} s"
                         + (f", {c['numeric_missing']} missing numeric cells mean-filled in the dump (approximate)"
                            if c.get("numeric_missing") else ""))
    for e in extra:
        L.append(f"- {e}")
    if "reference" in blas:
        L.append("- caveat: numpy and FAISS run on the reference (Netlib) BLAS here, so FAISS Flat and sklearn "
                 "brute are far slower than with OpenBLAS/MKL; read their ratios as against this install only.")
    L.append("- mismatch: share of the first 100 queries whose 10 sorted distances differ beyond tolerance "
             "(squared distances, rtol 1e-3 plus 1e-5·|q|²: FAISS's |x|²+|q|²−2x·q in float32 returns a query's "
             "distance to itself as a small non-zero number); ids: share whose neighbour sets differ "
             "(legitimate with ties).")
    L.append("")

    L.append("## Adult end to end: analyze, synthesize, evaluate (public API, `bench_synth`)")
    L.append("")
    if sy:
        rss_time, wall = time_v(os.path.join(o, "synth.time"))
        rss_load, _ = time_v(os.path.join(o, "synth_load.time"))
        csv_b = sy.get("csv_bytes")
        L.append("| stage | value |")
        L.append("|---|---|")
        L.append(f"| read + train {sy['rows']:,} rows | {sy['load_train_seconds']:.2f} s |")
        L.append(f"| analyze (targetless, then for income: as `cohort local train --target income`) | {sy['analyze_seconds']:.2f} s |")
        L.append(f"| synthesize {sy['synthetic_rows']:,} rows (default privacy gate: reference draws) | {sy['synthesize_seconds']:.2f} s |")
        if 'synthesize_local_seconds' in sy:
            L.append(f"| synthesize, local gate only (`--privacy local`): seconds / quality / DCR overfitting protection | "
                     f"{sy['synthesize_local_seconds']:.2f} s / {fmt(sy.get('quality_local'))} / {fmt(sy.get('dcr_overfitting_local'))} |")
        L.append(f"| evaluate (holdout adult_test, target income) | {sy['evaluate_seconds']:.2f} s |")
        L.append(f"| quality (SDMetrics QualityReport) | {fmt(sy.get('quality'))} |")
        L.append(f"| quality, all pairs | {fmt(sy.get('quality_all_pairs'))} |")
        L.append(f"| column shapes / pair trends | {fmt(sy.get('column_shapes'))} / {fmt(sy.get('pair_trends'))} |")
        L.append(f"| DCR baseline protection | {fmt(sy.get('dcr_baseline'))} |")
        L.append(f"| DCR overfitting protection | {fmt(sy.get('dcr_overfitting'))} |")
        L.append(f"| identical rows (synthetic = a training row) | {sy.get('identical')} |")
        L.append(f"| TSTR / TRTR (income, on adult_test) | {fmt(sy.get('tstr'))} / {fmt(sy.get('trtr'))} |")
        L.append(f"| adult_train.csv size | {mib(csv_b):.1f} MiB |")
        net = sy['peak_rss_trained_bytes'] - sy.get('rss_start_bytes', 0)
        L.append(f"| peak RSS after read + train + analyze (getrusage; includes the parsed CSV table) | "
                 f"{mib(sy['peak_rss_trained_bytes']):.1f} MiB, {mib(net):.1f} MiB above the process's start "
                 f"({ratio(net, csv_b)} the CSV) |")
        if sl:
            net = sl['peak_rss_bytes'] - sl.get('rss_before_load_bytes', 0)
            if sl.get('held_rss_bytes'):
                L.append(f"| memory held by a loaded trainee + search index (`--load`: resident after load, "
                         f"transient buffers returned) | {mib(sl['held_rss_bytes']):.1f} MiB "
                         f"(**{ratio(sl['held_rss_bytes'], csv_b)} the CSV**) |")
            L.append(f"| peak RSS of a loaded trainee + search index (`--load`, getrusage; includes the transient buffers of loading and of the index build) | "
                     f"{mib(sl['peak_rss_bytes']):.1f} MiB, {mib(net):.1f} MiB above the process before loading "
                     f"({ratio(net, csv_b)} the CSV; model file {mib(sl['file_bytes']):.1f} MiB) |")
        if rss_time:
            L.append(f"| peak RSS of the whole run (`/usr/bin/time -v`) | {mib(rss_time):.1f} MiB "
                     f"({ratio(rss_time, csv_b)} the CSV), wall {fmt(wall, '.1f')} s |")
        if rss_load:
            L.append(f"| peak RSS of the `--load` run (`/usr/bin/time -v`) | {mib(rss_load):.1f} MiB |")
        L.append("")
        L.append("Goal: a trained adult trainee within 2× the CSV's size.")
    else:
        L.append("pending: bench_synth did not run to the end (see notes).")
    L.append("")

    L.append("## Run")
    L.append("")
    for s in stages:
        if s.strip():
            L.append(f"- {s.strip()}")
    for n in notes:
        if n:
            L.append(f"- note: {n}")
    L.append("")
    if set(chosen) != set(SECTIONS):
        L = keep_old_sections(L, a.results, chosen)
    with open(a.results, "w") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    main()
