#!/usr/bin/python3
"""Exact k-NN peers on the engine's own geometry (dumped by bench_knn): FAISS IndexFlatL2 and
scikit-learn NearestNeighbors (brute, kd_tree), k=10, 2 threads. Also checks the engine's
neighbours of the first 100 queries against FAISS and against an exact float64 search.

  /usr/bin/python3 bench/peers_knn.py --dir OUT_DIR [--datasets diamonds,adult,random]
                                      [--threads 2] [--k 10] [--kd-queries 2000] [--out FILE]

Reads NAME_X.npy (cases x dims float32), NAME_q.npy (query case indices), NAME_eng_ids.npy and
NAME_eng_dists.npy (engine's neighbours, Euclidean distances). Prints JSON
{dataset: {faiss_qps, sklearn_brute_qps, sklearn_kdtree_qps, ...}}.
kd_tree is timed on the first --kd-queries queries only (it is slow in many dimensions); its qps
is still queries per second."""
import argparse
import json
import os
import sys
import time

import numpy as np


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def exact_knn(X, Q, k):
    """Float64 brute force: reference distances (sorted) and ids."""
    X64 = X.astype(np.float64)
    ids, dists = [], []
    for q in Q.astype(np.float64):
        d2 = ((X64 - q) ** 2).sum(axis=1)
        idx = np.argpartition(d2, k)[:k]
        idx = idx[np.argsort(d2[idx], kind="stable")]
        ids.append(idx)
        dists.append(np.sqrt(d2[idx]))
    return np.array(ids), np.array(dists)


def compare(dists_a, dists_b, ids_a, ids_b, qnorm2, rtol=1e-3, atol_rel=1e-5):
    """Fraction of queries whose sorted k distances differ beyond tolerance, and whose neighbour id
    sets differ (ids may legitimately differ between equally distant cases). Compared as squared
    distances with an absolute slack proportional to the query's squared norm: FAISS computes
    |x|^2 + |q|^2 - 2 x.q in float32, so a query's distance to itself comes back as
    sqrt(rounding error of |q|^2) rather than 0."""
    n = len(dists_a)
    dist_bad = 0
    id_bad = 0
    max_err = 0.0
    for i in range(n):
        a = np.sort(np.asarray(dists_a[i], dtype=np.float64))
        b = np.sort(np.asarray(dists_b[i], dtype=np.float64))
        max_err = max(max_err, float(np.abs(a - b).max()))
        err2 = np.abs(a * a - b * b)
        if np.any(err2 > rtol * b * b + atol_rel * (2.0 * qnorm2[i] + 1.0)):
            dist_bad += 1
        if set(int(x) for x in ids_a[i]) != set(int(x) for x in ids_b[i]):
            id_bad += 1
    return dist_bad / n, id_bad / n, max_err


def run(name, d, threads, k, kd_queries):
    import faiss
    from sklearn.neighbors import NearestNeighbors

    X = np.ascontiguousarray(np.load(os.path.join(d, f"{name}_X.npy")), dtype=np.float32)
    qidx = np.load(os.path.join(d, f"{name}_q.npy"))
    Q = np.ascontiguousarray(X[qidx])
    eng_ids = np.load(os.path.join(d, f"{name}_eng_ids.npy"))
    eng_d = np.load(os.path.join(d, f"{name}_eng_dists.npy"))
    res = {"cases": int(X.shape[0]), "dims": int(X.shape[1]), "queries": int(len(Q)), "k": k, "threads": threads}

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexFlatL2(X.shape[1])
    index.add(X)
    index.search(Q[:100], k)  # warm-up
    (fd2, fids), secs = timed(index.search, Q, k)
    res["faiss_seconds"] = secs
    res["faiss_qps"] = len(Q) / secs

    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", n_jobs=threads).fit(X)
    nn.kneighbors(Q[:100])
    _, secs = timed(nn.kneighbors, Q)
    res["sklearn_brute_seconds"] = secs
    res["sklearn_brute_qps"] = len(Q) / secs

    nq_kd = min(kd_queries, len(Q))
    (kt_fit, fit_secs) = timed(NearestNeighbors(n_neighbors=k, algorithm="kd_tree", n_jobs=threads).fit, X)
    _, secs = timed(kt_fit.kneighbors, Q[:nq_kd])
    res["sklearn_kdtree_build_seconds"] = fit_secs
    res["sklearn_kdtree_queries"] = nq_kd
    res["sklearn_kdtree_seconds"] = secs
    res["sklearn_kdtree_qps"] = nq_kd / secs

    # Correctness on the first queries the engine wrote out.
    nc = len(eng_ids)
    fd = np.sqrt(np.maximum(fd2[:nc], 0))
    ex_ids, ex_d = exact_knn(X, Q[:nc], k)
    qn2 = (Q[:nc].astype(np.float64) ** 2).sum(axis=1)
    r = compare(eng_d, fd, eng_ids, fids[:nc], qn2)
    res["check_queries"] = nc
    res["engine_vs_faiss_dist_mismatch"], res["engine_vs_faiss_id_mismatch"], res["engine_vs_faiss_max_abs_err"] = r
    r = compare(eng_d, ex_d, eng_ids, ex_ids, qn2)
    res["engine_vs_exact_dist_mismatch"], res["engine_vs_exact_id_mismatch"], res["engine_vs_exact_max_abs_err"] = r
    r = compare(fd, ex_d, fids[:nc], ex_ids, qn2)
    res["faiss_vs_exact_dist_mismatch"], res["faiss_vs_exact_id_mismatch"], res["faiss_vs_exact_max_abs_err"] = r
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--datasets", default="diamonds,adult,random")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--kd-queries", type=int, default=2000)
    ap.add_argument("--out")
    a = ap.parse_args()
    out = {}
    for name in a.datasets.split(","):
        if not os.path.exists(os.path.join(a.dir, f"{name}_X.npy")):
            print(f"peers_knn: no dump for {name}, skipped", file=sys.stderr)
            continue
        print(f"peers_knn: {name}...", file=sys.stderr)
        out[name] = run(name, a.dir, a.threads, a.k, a.kd_queries)
        r = out[name]
        print(f"peers_knn: {name}: faiss {r['faiss_qps']:.0f} q/s, sklearn brute {r['sklearn_brute_qps']:.0f} q/s, "
              f"kd_tree {r['sklearn_kdtree_qps']:.0f} q/s; engine vs faiss distance mismatch "
              f"{r['engine_vs_faiss_dist_mismatch']:.2%}", file=sys.stderr)
    s = json.dumps(out, indent=2)
    print(s)
    if a.out:
        with open(a.out, "w") as f:
            f.write(s + "\n")


if __name__ == "__main__":
    main()
