#!/usr/bin/env python3
"""The suite's tables that Debian's python3-sklearn ships, as CSV with a header (bench_suite reads
them from OUT_DIR/data; bench/run.sh calls this before it):

  python3 bench/suite_tables.py OUT_DIR/data [--from SKLEARN_DATA_DIR]

  wine.csv      178 x 14: the 13 measurements of UCI Wine, class class_0 / class_1 / class_2
                (the file has a count line for a header and codes the classes 0-2).
  diabetes.csv  442 x 11: age, sex, bmi, bp, s1-s6 (the raw, unscaled values) and progression,
                the disease progression one year later (regression; the features and the target
                come in two gzipped, space-separated files).

Only the standard library: this runs before the peers' checks and needs no numpy."""
import argparse
import csv
import gzip
import os
import sys

SKLEARN_DATA = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
WINE_COLUMNS = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
                "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
                "od280_od315", "proline", "class"]
DIABETES_COLUMNS = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "progression"]


def number(text):
    """The value as the source wrote it, less a float's trailing '.0' ('151.0' -> '151')."""
    v = float(text)
    return str(int(v)) if v.is_integer() else text


def wine(src, out):
    with open(os.path.join(src, "wine_data.csv"), newline="") as f:
        rows = list(csv.reader(f))
    head, body = rows[0], rows[1:]
    names = head[2:]
    if len(body) != int(head[0]) or any(len(r) != len(WINE_COLUMNS) for r in body):
        sys.exit(f"suite_tables: wine_data.csv is not {head[0]} rows of {len(WINE_COLUMNS)} fields")
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(WINE_COLUMNS)
        for r in body:
            w.writerow(r[:-1] + [names[int(r[-1])]])
    return len(body)


def diabetes(src, out):
    with gzip.open(os.path.join(src, "diabetes_data_raw.csv.gz"), "rt") as f:
        x = [line.split() for line in f if line.strip()]
    with gzip.open(os.path.join(src, "diabetes_target.csv.gz"), "rt") as f:
        y = [line.strip() for line in f if line.strip()]
    if len(x) != len(y) or any(len(r) != len(DIABETES_COLUMNS) - 1 for r in x):
        sys.exit("suite_tables: diabetes features and target do not line up")
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(DIABETES_COLUMNS)
        for r, t in zip(x, y):
            w.writerow([number(v) for v in r] + [number(t)])
    return len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--from", dest="src", default=SKLEARN_DATA)
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    for name, fn in (("wine", wine), ("diabetes", diabetes)):
        n = fn(a.src, os.path.join(a.out_dir, name + ".csv"))
        print(f"suite_tables: {name}.csv, {n} rows", file=sys.stderr)


if __name__ == "__main__":
    main()
