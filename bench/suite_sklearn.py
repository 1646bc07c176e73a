#!/usr/bin/python3
"""The broad suite, scikit-learn side: the peers on the very rows bench_suite used.

  /usr/bin/python3 bench/suite_sklearn.py OUT_DIR [--jobs 2] [--search-rows 10000] [--only NAME]

Reads what bench_suite wrote in OUT_DIR: cohort_suite.json (tables, targets, metric),
splits/NAME_{train,test}.csv, splits/NAME_schema.json (the engine's inferred types: the peers describe
each table the way the engine's user did) and the engine's synthetic rows, one file per seed
(cohort_suite.json's synth_files, when synthesis ran) with the synthesis split splits/NAME_{strain,sholdout}.csv. Writes OUT_DIR/sklearn_suite.json {NAME: {...}} and prints it.

Per table, on the target (accuracy when the engine's target type is categorical, R^2 otherwise):
- baseline: majority class / training mean;
- tuned k-NN: StandardScaler on numeric features (median imputation), one-hot on categorical ones
  (most frequent), KNeighbors tuned by 5-fold GridSearchCV over the grid of sklearn_baseline.py
  (on at most --search-rows seeded training rows, refit on all);
- gradient boosting: HistGradientBoostingClassifier/Regressor with default settings (random_state 0),
  categorical features ordinal-encoded and declared categorical, missing values left to the model;
- TSTR / TRTR: the same gradient boosting trained on the synthetic rows / on the real rows they were
  made from, both scored on the synthesis holdout (cohort_suite.json's synth_train / synth_holdout:
  half of the table and the other half; adult: adult_train / adult_test, the prediction split).
Feature kinds come from the schema: nominal and boolean are categorical; ordinal is numeric when all
its cells parse as numbers, else categorical in the order of the schema's levels; continuous and
datetime (as numbers) are numeric. Class labels that parse as numbers are compared as numbers, so
"1" and "1.0" are one class."""
import argparse
import csv
import json
import math
import os
import sys
import time

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sklearn_baseline import GRID  # noqa: E402  (one k-NN grid for the whole bench)

MISSING = {"", "NA"}


def read_rows(path):
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        rows = [[None if c in MISSING else c for c in row] for row in r if row]
    return header, rows


def num(s):
    try:
        v = float(s)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def label(s):
    """A class label: numbers as numbers ("1" == "1.0"), text as text."""
    v = num(s)
    return s if v is None else format(v, ".10g")


def kinds(schema, header, target, rows):
    """[(column index, 'num' | 'cat', levels or None)] for the features (not the target, not ignored/id)."""
    by_name = {f["name"]: f for f in schema}
    out = []
    for c, h in enumerate(header):
        f = by_name.get(h)
        if h == target or f is None or f.get("ignored") or f.get("id"):
            continue
        t = f["type"]
        if t in ("continuous", "datetime"):
            out.append((c, "num", None))
        elif t == "ordinal" and all(r[c] is None or num(r[c]) is not None for r in rows):
            out.append((c, "num", None))
        elif t == "ordinal" and not f.get("levels_truncated"):
            out.append((c, "cat", list(f.get("levels", []))))
        else:
            out.append((c, "cat", None))
    return out


def matrix(rows, feats, for_gbm, cats):
    """Object matrix for k-NN (numbers as floats, categories as text, missing as nan), or a float
    matrix for gradient boosting (categories as codes from cats, unknown/missing as nan)."""
    X = np.empty((len(rows), len(feats)), dtype=float if for_gbm else object)
    for j, (c, kind, _) in enumerate(feats):
        for i, r in enumerate(rows):
            v = r[c]
            if kind == "num":
                x = num(v)
                X[i, j] = np.nan if x is None else x
            elif for_gbm:
                X[i, j] = cats[j].get(v, np.nan) if v is not None else np.nan
            else:
                X[i, j] = np.nan if v is None else v
    return X


def category_codes(train_rows, feats):
    """Per categorical feature: value -> code, schema level order for ordinal text, else by frequency
    (HistGradientBoosting takes at most 255 categories; rarer ones beyond that share 'unknown')."""
    cats = []
    for c, kind, levels in feats:
        if kind != "cat":
            cats.append(None)
            continue
        if levels:
            order = levels
        else:
            counts = {}
            for r in train_rows:
                if r[c] is not None:
                    counts[r[c]] = counts.get(r[c], 0) + 1
            order = sorted(counts, key=lambda v: (-counts[v], v))
        cats.append({v: i for i, v in enumerate(order[:254])})
    return cats


def targets(rows, ti, metric):
    if metric == "r2":
        return np.array([num(r[ti]) for r in rows], dtype=float)
    return np.array([label(r[ti]) for r in rows], dtype=object)


def score(metric, y, pred):
    return float(r2_score(y, pred) if metric == "r2" else accuracy_score(y, pred))


def tuned_knn(Xtr, ytr, Xte, yte, feats, metric, jobs, search_rows):
    num_cols = [j for j, f in enumerate(feats) if f[1] == "num"]
    cat_cols = [j for j, f in enumerate(feats) if f[1] == "cat"]
    parts = []
    if num_cols:
        parts.append(("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
                      num_cols))
    if cat_cols:
        parts.append(("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                                       ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]),
                      cat_cols))
    model = KNeighborsRegressor() if metric == "r2" else KNeighborsClassifier()
    pipe = Pipeline([("pre", ColumnTransformer(parts)), ("knn", model)])
    if len(ytr) > search_rows:
        sub = np.random.RandomState(0).choice(len(ytr), search_rows, replace=False)
        Xs, ys = Xtr[sub], ytr[sub]
    else:
        Xs, ys = Xtr, ytr
    grid = dict(GRID)
    # A fold smaller than the largest k cannot fit it: keep the k that every fold can hold.
    grid["knn__n_neighbors"] = [k for k in GRID["knn__n_neighbors"] if k <= len(ys) * 4 // 5 - 1]
    gs = GridSearchCV(pipe, grid, cv=5, scoring="r2" if metric == "r2" else "accuracy", n_jobs=jobs, refit=False)
    gs.fit(Xs, ys)
    pipe.set_params(**gs.best_params_)
    pipe.fit(Xtr, ytr)
    return score(metric, yte, pipe.predict(Xte)), {k.replace("knn__", ""): v for k, v in gs.best_params_.items()}


def gbm(Xtr, ytr, Xte, yte, feats, metric):
    mask = np.array([f[1] == "cat" for f in feats], dtype=bool)
    cls = HistGradientBoostingRegressor if metric == "r2" else HistGradientBoostingClassifier
    model = cls(categorical_features=mask if mask.any() else None, random_state=0)
    keep = ~np.isnan(ytr) if metric == "r2" else np.ones(len(ytr), dtype=bool)
    model.fit(Xtr[keep], ytr[keep])
    return score(metric, yte, model.predict(Xte))


def baseline(ytr, yte, metric):
    if metric == "r2":
        return score(metric, yte, np.full(len(yte), float(np.nanmean(ytr))))
    vals, counts = np.unique(ytr.astype(str), return_counts=True)
    return score(metric, yte.astype(str), np.full(len(yte), vals[np.argmax(counts)], dtype=object))


def run(out_dir, name, info, jobs, search_rows):
    t0 = time.perf_counter()
    sp = os.path.join(out_dir, "splits")
    header, train = read_rows(os.path.join(sp, f"{name}_train.csv"))
    h2, test = read_rows(os.path.join(sp, f"{name}_test.csv"))
    if h2 != header:
        raise SystemExit(f"suite_sklearn: {name}: train and test headers differ")
    with open(os.path.join(sp, f"{name}_schema.json")) as f:
        schema = json.load(f)
    target, metric = info["target"], info["metric"]
    ti = header.index(target)
    feats = kinds(schema, header, target, train)
    cats = category_codes(train, feats)
    ytr, yte = targets(train, ti, metric), targets(test, ti, metric)
    if metric == "r2":  # a test row without a numeric target cannot be scored
        ok = ~np.isnan(yte)
        test = [r for r, k in zip(test, ok) if k]
        yte = yte[ok]
    res = {"metric": metric, "target": target, "train_rows": len(train), "test_rows": len(test),
           "numeric_features": sum(f[1] == "num" for f in feats),
           "categorical_features": sum(f[1] == "cat" for f in feats)}
    res["baseline"] = baseline(ytr, yte, metric)

    t1 = time.perf_counter()
    keep = ~np.isnan(ytr) if metric == "r2" else np.ones(len(ytr), dtype=bool)
    Xk_tr = matrix([r for r, k in zip(train, keep) if k], feats, False, cats)
    res["knn"], res["knn_params"] = tuned_knn(Xk_tr, ytr[keep], matrix(test, feats, False, cats), yte, feats, metric,
                                              jobs, search_rows)
    t2 = time.perf_counter()
    Xg_te = matrix(test, feats, True, cats)
    res["gbm"] = gbm(matrix(train, feats, True, cats), ytr, Xg_te, yte, feats, metric)
    t3 = time.perf_counter()
    res["knn_seconds"], res["gbm_seconds"] = t2 - t1, t3 - t2

    # One synthetic table per seed (cohort_suite.json's synth_files); TSTR is their mean.
    syn_paths = [os.path.join(out_dir, p) for p in info.get("synth_files", [f"synth/{name}.csv"])]
    if syn_paths and all(os.path.exists(p) for p in syn_paths) and "synth_train" in info:
        # Synthesis has a split of its own (bench_suite.c: a half and its holdout, adult train / test).
        if info["synth_train"] == f"splits/{name}_train.csv" and info["synth_holdout"] == f"splits/{name}_test.csv":
            strain, Xh, yh, res["trtr_gbm"] = train, Xg_te, yte, res["gbm"]
        else:
            _, strain = read_rows(os.path.join(out_dir, info["synth_train"]))
            _, hold = read_rows(os.path.join(out_dir, info["synth_holdout"]))
            yh, ys_real = targets(hold, ti, metric), targets(strain, ti, metric)
            if metric == "r2":
                hold = [r for r, k in zip(hold, ~np.isnan(yh)) if k]
                yh = yh[~np.isnan(yh)]
            Xh = matrix(hold, feats, True, cats)
            res["trtr_gbm"] = gbm(matrix(strain, feats, True, cats), ys_real, Xh, yh, feats, metric)
        res["tstr_gbm_seeds"] = []
        for syn_path in syn_paths:
            hs, syn = read_rows(syn_path)
            idx = [hs.index(h) for h in header]  # same columns, possibly another order
            syn = [[r[i] for i in idx] for r in syn]
            if metric != "r2":
                syn = [r for r in syn if r[ti] is not None]
            ys = targets(syn, ti, metric)
            res["synth_rows"], res["synth_train_rows"], res["synth_holdout_rows"] = len(syn), len(strain), len(yh)
            if metric != "r2" and len(set(ys.tolist())) < 2:
                # One class in the synthetic rows: gradient boosting cannot fit; it would predict that class.
                tstr = score(metric, yh, np.full(len(yh), ys[0] if len(ys) else "", dtype=object))
            else:
                tstr = gbm(matrix(syn, feats, True, cats), ys, Xh, yh, feats, metric)
            res["tstr_gbm_seeds"].append(tstr)
        res["tstr_gbm"] = float(np.mean(res["tstr_gbm_seeds"]))
        res["tstr_gap"] = res["trtr_gbm"] - res["tstr_gbm"]
    res["seconds"] = time.perf_counter() - t0
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--search-rows", type=int, default=10000)
    ap.add_argument("--only")
    a = ap.parse_args()
    with open(os.path.join(a.out_dir, "cohort_suite.json")) as f:
        suite = json.load(f)
    out = {}
    for name, info in suite.items():
        if a.only and a.only != name:
            continue
        r = out[name] = run(a.out_dir, name, info, a.jobs, a.search_rows)
        tstr = f", TSTR {r['tstr_gbm']:.4f} (gap {r['tstr_gap']:+.4f})" if "tstr_gbm" in r else ""
        print(f"suite_sklearn: {name} {r['metric']}: baseline {r['baseline']:.4f}, kNN {r['knn']:.4f} "
              f"{r['knn_params']}, GBM {r['gbm']:.4f}{tstr} [{r['seconds']:.1f}s]", file=sys.stderr)
    s = json.dumps(out, indent=2)
    print(s)
    with open(os.path.join(a.out_dir, "sklearn_suite.json"), "w") as f:
        f.write(s + "\n")


if __name__ == "__main__":
    main()
