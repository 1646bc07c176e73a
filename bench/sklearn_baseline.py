#!/usr/bin/python3
"""scikit-learn k-NN baseline for the quality benchmark, and the fixed train/test splits the
engine is scored on.

  /usr/bin/python3 bench/sklearn_baseline.py DATASETS_DIR --out FILE --splits DIR
                                             [--jobs 2] [--search-rows 10000] [--only NAME]

Model: StandardScaler on numeric columns (SimpleImputer median), OneHotEncoder on categorical ones
(SimpleImputer most_frequent), then KNeighborsClassifier/Regressor tuned by GridSearchCV (5-fold)
over n_neighbors {1,3,5,7,9,11,15,21,31,41} x weights {uniform, distance}.
The grid search runs on at most --search-rows training rows (a seeded subsample: 2 cores); the
best parameters are then refit on the full training set and scored on the test set.
--search-mode precomputed computes the search rows' distance matrix once and lets GridSearchCV
slice it per fold (preprocessing fitted once on the search rows); pipeline searches the whole
pipeline (preprocessing refit per fold); auto (default) picks precomputed when the encoded rows
have >= 64 columns (adult), where distances dominate. Refit and test score use the full pipeline.

Datasets: adult (income, accuracy; adult_train / adult_test), diamonds (price, R^2), abalone
(rings, R^2), penguins (species, accuracy). The last three use a fixed systematic 1-in-5 split,
trivially reproducible without numpy's RNG: after dropping rows whose target is missing (empty or
NA; none in these files today), the data row with 0-based index i is a test row when i % 5 == 4
and a training row otherwise, both in file order. The split files are copies of the original CSV
lines (header included), so the engine (bench_quality) reads exactly the cells scikit-learn read;
tests/test_quality_predict.c builds the same split from the original CSV in C.

A column is numeric when every non-missing cell parses as a number; an empty cell (or NA) is
missing. Prints JSON {dataset: {metric, sklearn_score, best_params, seconds, ...}}."""
import argparse
import csv
import json
import os
import sys
import time

import numpy as np
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, r2_score
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

DATASETS = [
    # name, train file, test file (None = fixed split of train), target, metric
    ("adult", "adult_train.csv", "adult_test.csv", "income", "accuracy"),
    ("diamonds", "diamonds.csv", None, "price", "r2"),
    ("abalone", "abalone.csv", None, "rings", "r2"),
    ("penguins", "penguins.csv", None, "species", "accuracy"),
]
MISSING = {"", "NA"}
GRID = {"knn__n_neighbors": [1, 3, 5, 7, 9, 11, 15, 21, 31, 41], "knn__weights": ["uniform", "distance"]}


def read_csv(path):
    """Header, parsed rows (lists of str or None), and the raw lines of each row as written."""
    with open(path, newline="") as f:
        text = f.read()
    lines = text.splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    rows = [[None if c in MISSING else c for c in r] for r in csv.reader(lines[1:]) if r]
    raw = [ln for ln in lines[1:] if ln.strip()]
    if len(raw) != len(rows):  # a quoted field spans lines: fall back to re-serialising
        raw = None
    return header, rows, raw


def is_number(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def write_split(path, header_line, header, rows, raw):
    with open(path, "w", newline="") as f:
        if raw is not None:
            f.write(header_line)
            for ln in raw:
                f.write(ln if ln.endswith("\n") else ln + "\n")
        else:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            for r in rows:
                w.writerow(["" if c is None else c for c in r])


def matrix(rows, cols, numeric):
    X = np.empty((len(rows), len(cols)), dtype=object)
    for j, c in enumerate(cols):
        for i, r in enumerate(rows):
            v = r[c]
            X[i, j] = np.nan if v is None else (float(v) if numeric[c] else v)
    return X


def run(name, data_dir, train_file, test_file, target, metric, splits_dir, jobs, search_rows, search_mode):
    t0 = time.perf_counter()
    path = os.path.join(data_dir, train_file)
    header, rows, raw = read_csv(path)
    with open(path, newline="") as f:
        header_line = f.readline()
    ti = header.index(target)
    keep = [i for i, r in enumerate(rows) if r[ti] is not None]  # drop rows without a target
    rows = [rows[i] for i in keep]
    raw = [raw[i] for i in keep] if raw is not None else None
    if test_file is None:
        # Systematic 1-in-5 split: row i (0-based, counted after dropping missing targets) is a
        # test row when i % 5 == 4. Keep in step with tests/test_quality_predict.c.
        tr = [i for i in range(len(rows)) if i % 5 != 4]
        te = [i for i in range(len(rows)) if i % 5 == 4]
        train = [rows[i] for i in tr]
        test = [rows[i] for i in te]
        os.makedirs(splits_dir, exist_ok=True)
        write_split(os.path.join(splits_dir, f"{name}_train.csv"), header_line, header, train,
                    [raw[i] for i in tr] if raw is not None else None)
        write_split(os.path.join(splits_dir, f"{name}_test.csv"), header_line, header, test,
                    [raw[i] for i in te] if raw is not None else None)
    else:
        train = rows
        h2, test, _ = read_csv(os.path.join(data_dir, test_file))
        idx = [h2.index(h) for h in header]
        test = [[r[i] for i in idx] for r in test if r[h2.index(target)] is not None]

    feats = [c for c in range(len(header)) if c != ti]
    numeric = {c: all(r[c] is None or is_number(r[c]) for r in train) for c in feats}
    num_cols = [j for j, c in enumerate(feats) if numeric[c]]
    cat_cols = [j for j, c in enumerate(feats) if not numeric[c]]
    Xtr, Xte = matrix(train, feats, numeric), matrix(test, feats, numeric)
    if metric == "r2":
        ytr = np.array([float(r[ti]) for r in train])
        yte = np.array([float(r[ti]) for r in test])
        model, scoring = KNeighborsRegressor(), "r2"
    else:
        ytr = np.array([r[ti] for r in train])
        yte = np.array([r[ti] for r in test])
        model, scoring = KNeighborsClassifier(), "accuracy"

    pre = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), num_cols),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                          ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]), cat_cols),
    ])
    pipe = Pipeline([("pre", pre), ("knn", model)])

    rs = np.random.RandomState(0)
    if len(train) > search_rows:
        sub = rs.choice(len(train), search_rows, replace=False)
        Xs, ys = Xtr[sub], ytr[sub]
    else:
        Xs, ys = Xtr, ytr
    t1 = time.perf_counter()
    if search_mode == "auto":
        # Precomputing pays off when distances are expensive (many one-hot columns, adult); with
        # few columns (diamonds) slicing the n x n matrix per fold costs more than recomputing.
        search_mode = "precomputed" if clone(pre).fit(Xs[:200]).transform(Xs[:1]).shape[1] >= 64 else "pipeline"
    if search_mode == "pipeline":
        gs = GridSearchCV(pipe, GRID, cv=5, scoring=scoring, n_jobs=jobs, refit=False)
        gs.fit(Xs, ys)
        best = gs.best_params_
    else:
        # The same grid over a precomputed distance matrix of the search rows: GridSearchCV slices
        # it per fold (metric="precomputed" marks the estimator pairwise), so the distances are
        # computed once instead of once per (n_neighbors, weights, fold). The preprocessing is then
        # fitted on all search rows rather than on each fold's 4/5.
        Z = clone(pre).fit_transform(Xs)
        D = euclidean_distances(Z).astype(np.float32)
        grid = {k.replace("knn__", ""): v for k, v in GRID.items()}
        gs = GridSearchCV(clone(model).set_params(metric="precomputed"), grid, cv=5, scoring=scoring, n_jobs=jobs,
                          refit=False)
        gs.fit(D, ys)
        del D, Z
        best = {"knn__" + k: v for k, v in gs.best_params_.items()}
    t2 = time.perf_counter()
    pipe.set_params(**best)
    pipe.fit(Xtr, ytr)
    pred = pipe.predict(Xte)
    t3 = time.perf_counter()
    score = r2_score(yte, pred) if metric == "r2" else accuracy_score(yte, pred)
    return {
        "metric": metric,
        "target": target,
        "sklearn_score": float(score),
        "best_params": {k.replace("knn__", ""): v for k, v in best.items()},
        "cv_score": float(gs.best_score_),
        "seconds": t3 - t0,
        "search_seconds": t2 - t1,
        "refit_predict_seconds": t3 - t2,
        "train_rows": len(train),
        "test_rows": len(test),
        "search_rows": int(len(ys)),
        "search_subsampled": bool(len(ys) < len(train)),
        "search_mode": search_mode,
        "numeric_features": len(num_cols),
        "categorical_features": len(cat_cols),
        "jobs": jobs,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("datasets_dir")
    ap.add_argument("--out", required=True)
    ap.add_argument("--splits", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--search-rows", type=int, default=10000)
    ap.add_argument("--search-mode", choices=["auto", "precomputed", "pipeline"], default="auto",
                    help="precomputed: one distance matrix per search, sliced per fold (fast); "
                         "pipeline: GridSearchCV over the whole pipeline, preprocessing refit per fold; "
                         "auto: precomputed when the encoded rows have >= 64 columns")
    ap.add_argument("--only")
    a = ap.parse_args()
    out = {}
    for name, trf, tef, target, metric in DATASETS:
        if a.only and a.only != name:
            continue
        print(f"sklearn_baseline: {name}...", file=sys.stderr)
        out[name] = run(name, a.datasets_dir, trf, tef, target, metric, a.splits, a.jobs, a.search_rows,
                        a.search_mode)
        r = out[name]
        note = f" (grid search on {r['search_rows']} of {r['train_rows']} rows, refit on all)" \
            if r["search_subsampled"] else ""
        note += f" [search {r['search_seconds']:.1f}s, refit+predict {r['refit_predict_seconds']:.1f}s]"
        print(f"sklearn_baseline: {name} {metric} = {r['sklearn_score']:.4f} with {r['best_params']} "
              f"in {r['seconds']:.1f}s{note}", file=sys.stderr)
    s = json.dumps(out, indent=2)
    print(s)
    with open(a.out, "w") as f:
        f.write(s + "\n")


if __name__ == "__main__":
    main()
