#!/usr/bin/env python3
"""A night's delivery for the nightly benchmark: police records of people already in the inbox.

Usage: night_delivery.py SOURCE_CSV OUT_CSV NIGHT_DATE NEW CORRECTIONS SEED

Takes rows of SOURCE_CSV (the synthetic county's police incidents file, read as UTF-8 or
GB18030), and writes OUT_CSV (UTF-8) with NEW new records (new record ids, dated up to three
days before NIGHT_DATE) and CORRECTIONS corrections of existing records (the same record id,
another behaviour date a few days earlier). The same arguments give the same file.
"""
import csv
import datetime
import io
import random
import sys

src, out, night, new, corrections, seed = sys.argv[1:7]
night = datetime.date.fromisoformat(night)
new, corrections = int(new), int(corrections)
rng = random.Random(int(seed))

raw = open(src, "rb").read()
try:
    text = raw.decode("utf-8-sig")
except UnicodeDecodeError:
    text = raw.decode("gb18030")
rows = list(csv.DictReader(io.StringIO(text)))
header = list(rows[0].keys())
date_col = next(c for c in ("occurred_on", "event_on", "date") if c in header)

picked = rng.sample(rows, new + corrections)
lines = []
for i, r in enumerate(picked[:new]):
    r = dict(r)
    r["record_id"] = f"N{night:%Y%m%d}{i:05d}"
    r[date_col] = (night - datetime.timedelta(days=rng.randint(0, 3))).isoformat()
    lines.append(r)
for r in picked[new:]:
    r = dict(r)
    d = datetime.date.fromisoformat(r[date_col])
    r[date_col] = (d - datetime.timedelta(days=rng.randint(1, 5))).isoformat()
    lines.append(r)
with open(out, "w", encoding="utf-8", newline="") as f:
    w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
    w.writeheader()
    w.writerows(lines)
