#!/usr/bin/env python3
"""Independent reference for leadstream's RFM analysis, with pandas.

Reads the CDNOW master purchase dataset (Fader & Hardie; 69,659 purchases of 23,570 customers,
January 1997 to June 1998; shipped inside the `lifetimes` package on PyPI as
`lifetimes/datasets/CDNOW_master.txt`, kept gzipped in `platform/tests/fixtures/`), computes the
RFM analysis exactly as `schemas/src/rfm.rs` defines it, and writes the figures the conformance
test `platform/tests/rfm.rs` compares both stores against:

    python3 -m venv /tmp/rfmenv && /tmp/rfmenv/bin/pip install pandas
    /tmp/rfmenv/bin/python benches/rfm/reference.py > platform/tests/fixtures/rfm_cdnow_expected.json

This file shares no code with leadstream: the definition is re-implemented from its documentation.
"""

import gzip
import json
import math
import os
import sys

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "platform", "tests", "fixtures", "cdnow_master.txt.gz")
DAY_MS = 86_400_000

# The documented mapping table: rows R = 5..1, columns FM = 1..5.
GRID = {
    5: ["New Customers", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"],
    4: ["Promising", "Potential Loyalists", "Potential Loyalists", "Loyal Customers", "Champions"],
    3: ["About to Sleep", "About to Sleep", "Need Attention", "Loyal Customers", "Loyal Customers"],
    2: ["Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"],
    1: ["Lost", "Lost", "At Risk", "Can't Lose Them", "Can't Lose Them"],
}
ORDER = [
    "Champions", "Loyal Customers", "Potential Loyalists", "New Customers", "Promising",
    "Need Attention", "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost",
]

# The cases the test runs: (as of, window in days).
CASES = [("1998-07-01", 548), ("1998-07-01", 180), ("1997-10-01", 180)]
MIGRATION = ("1997-10-01", "1998-07-01", 180)


def load():
    with gzip.open(DATA, "rt") as f:
        df = pd.read_csv(f, sep=r"\s+", skiprows=1, header=None,
                         names=["customer", "date", "cds", "value"],
                         dtype={"customer": str, "date": str})
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    df["ts"] = (pd.to_datetime(df["date"], format="%Y%m%d", utc=True) - epoch) // pd.Timedelta(milliseconds=1)
    df["message"] = range(len(df))
    return df


def ms(day):
    return int((pd.Timestamp(day, tz="UTC") - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(milliseconds=1))


def score(df, as_of, window):
    w = df[(df.ts >= as_of - window * DAY_MS) & (df.ts <= as_of)]
    g = w.groupby("customer").agg(last=("ts", "max"), f=("message", "nunique"), m=("value", "sum"))
    g["r"] = ((as_of - g["last"]) // DAY_MS).astype(float)
    g["f"] = g["f"].astype(float)
    cuts = {}
    for col in ["r", "f", "m"]:
        v = sorted(g[col].tolist())
        n = len(v)
        cuts[col] = [v[math.ceil(k * n / 5) - 1] for k in range(1, 5)]
        g[col + "_bin"] = 1 + sum((g[col] > c).astype(int) for c in cuts[col])
    g["R"] = 6 - g["r_bin"]
    g["F"] = g["f_bin"]
    g["M"] = g["m_bin"]
    g["FM"] = (g["F"] + g["M"] + 1) // 2
    g["segment"] = [GRID[r][fm - 1] for r, fm in zip(g["R"], g["FM"])]
    return g, cuts


def report(g, cuts):
    total = len(g)
    segments = []
    for name in ORDER:
        s = g[g.segment == name]
        people = len(s)
        segments.append({
            "segment": name,
            "people": people,
            "share": people / total if total else 0.0,
            "revenue": float(s["m"].sum()),
            "avg_recency_days": float(s["r"].mean()) if people else 0.0,
            "avg_frequency": float(s["f"].mean()) if people else 0.0,
            "avg_monetary": float(s["m"].mean()) if people else 0.0,
        })
    triples = g.groupby(["R", "F", "M"]).size()
    return {
        "customers": total,
        "revenue": float(g["m"].sum()),
        "cuts": {"recency_days": cuts["r"], "frequency": cuts["f"], "monetary": cuts["m"]},
        "segments": segments,
        "scores": {f"{r}{f}{m}": int(n) for (r, f, m), n in triples.items()},
    }


def main():
    df = load()
    out = {"purchases": len(df), "customers_in_dataset": int(df.customer.nunique()), "cases": []}
    for day, window in CASES:
        g, cuts = score(df, ms(day), window)
        out["cases"].append({"as_of": day, "as_of_ms": ms(day), "window_days": window, **report(g, cuts)})
    a_day, b_day, window = MIGRATION
    a, _ = score(df, ms(a_day), window)
    b, _ = score(df, ms(b_day), window)
    both = (a[["segment"]].rename(columns={"segment": "segment_from"})
            .join(b[["segment"]].rename(columns={"segment": "segment_to"}), how="outer")
            .fillna("none"))
    moves = both.groupby(["segment_from", "segment_to"]).size()
    out["migration"] = {
        "from": a_day, "from_ms": ms(a_day), "to": b_day, "to_ms": ms(b_day), "window_days": window,
        "moves": [{"from": f, "to": t, "people": int(n)} for (f, t), n in moves.items()],
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
