#!/usr/bin/env python3
"""SQLite's own cost of a durable ingest batch, without Sceneboard's Rust (docs/benchmarks/ingest.md,
"Where a durable push's time goes").

Builds the tables a stored push writes (events with its three indexes, subscriptions with
two, scanner_hours and campaign_hourly clustered on their keys, as on SQLite), then commits
400 batches of 64 pushes the way the ingest writer does: one multi-row statement per table
per batch, 35 of the 64 pushes opening a subscription, random follower hashes over 300
campaigns. Prints the CPU time (user + system) per push of each statement and of the commit,
and the WAL frames written per commit.

    scripts/sqlite-floor.py [--synchronous FULL|NORMAL|OFF] [--page-size 4096] [--batches 400] [--batch 64]

--batch 2048 --batches 13 is the spool's import (about the same number of pushes in batches
of 2 048, as the writer imports a burst it journaled).

Uses Python's built-in sqlite3 module; the database lives in a temporary directory.
"""
import argparse
import os
import random
import sqlite3
import tempfile
import time

SCHEMA = """
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, account_id INT NOT NULL, openid_hash VARCHAR(64) NOT NULL,
  openid VARCHAR(64), create_time BIGINT NOT NULL, msg_type VARCHAR(32) NOT NULL, event VARCHAR(64) NOT NULL,
  event_key VARCHAR(128) NOT NULL, ticket VARCHAR(255), scene VARCHAR(64), kind VARCHAR(16) NOT NULL, campaign_id INT,
  raw_xml TEXT NOT NULL, received_at TEXT NOT NULL);
CREATE UNIQUE INDEX uq_events_dedupe ON events (account_id, openid_hash, create_time, event, event_key);
CREATE INDEX idx_events_account_time ON events (account_id, create_time);
CREATE INDEX idx_events_campaign_time ON events (campaign_id, create_time);
CREATE TABLE subscriptions (id INTEGER PRIMARY KEY AUTOINCREMENT, account_id INT NOT NULL, openid_hash VARCHAR(64) NOT NULL,
  openid VARCHAR(64), campaign_id INT, scene VARCHAR(64), subscribed_at TEXT NOT NULL, unsubscribed_at TEXT,
  subscribe_event_id BIGINT, unsubscribe_event_id BIGINT);
CREATE INDEX idx_subscriptions_follower ON subscriptions (account_id, openid_hash, unsubscribed_at);
CREATE INDEX idx_subscriptions_campaign ON subscriptions (campaign_id, subscribed_at);
CREATE TABLE scanner_hours (campaign_id INT NOT NULL, hour BIGINT NOT NULL, openid_hash VARCHAR(64) NOT NULL,
  PRIMARY KEY (campaign_id, hour, openid_hash)) WITHOUT ROWID;
CREATE TABLE campaign_hourly (campaign_id INT NOT NULL, hour BIGINT NOT NULL, scans INT, new_followers INT,
  unsubscribes INT, PRIMARY KEY (campaign_id, hour)) WITHOUT ROWID;
"""

SUBSCRIBE_SHARE = 35 / 64
HOUR = 472_000


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL", "OFF"])
    ap.add_argument("--page-size", type=int, default=4096)
    ap.add_argument("--batches", type=int, default=400)
    ap.add_argument("--batch", type=int, default=64, help="pushes per transaction")
    args = ap.parse_args()
    batch = args.batch
    subscribes = round(batch * SUBSCRIBE_SHARE)

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "floor.db")
        db = sqlite3.connect(path, isolation_level=None)
        # Page size first: it cannot change once the database is in WAL mode.
        db.execute(f"PRAGMA page_size = {args.page_size}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {args.synchronous}")
        db.execute("PRAGMA cache_size = -16384")
        # No automatic checkpoint, so the WAL's size counts every frame written.
        db.execute("PRAGMA wal_autocheckpoint = 0")
        db.executescript(SCHEMA)

        cpu = {}

        def timed(name, sql, params=()):
            t = time.process_time()
            db.execute(sql, params).fetchall()
            cpu[name] = cpu.get(name, 0.0) + time.process_time() - t

        k = 0
        for _ in range(args.batches):
            rows = []
            for _ in range(batch):
                h = "%064x" % random.getrandbits(256)
                k += 1
                rows.append((1, h, "o" + h[:27], 1_700_000_000 + k, "event", "subscribe",
                             "qrscene_%d" % random.randint(1, 300), "ticket", "12", "subscribe",
                             random.randint(1, 300), "<xml>" + "x" * 330 + "</xml>", "2026-11-27T00:00:00Z"))
            timed("begin", "BEGIN IMMEDIATE")
            timed("events", "INSERT INTO events (account_id, openid_hash, openid, create_time, msg_type, event, event_key, "
                  "ticket, scene, kind, campaign_id, raw_xml, received_at) VALUES "
                  + ", ".join(["(?,?,?,?,?,?,?,?,?,?,?,?,?)"] * batch) + " ON CONFLICT DO NOTHING RETURNING id",
                  [v for r in rows for v in r])
            subs = rows[:subscribes]
            timed("subscriptions", "INSERT INTO subscriptions (account_id, openid_hash, openid, campaign_id, scene, "
                  "subscribed_at, subscribe_event_id) VALUES " + ", ".join(["(?,?,?,?,?,?,?)"] * len(subs)),
                  [v for r in subs for v in (1, r[1], r[2], r[10], "12", r[12], 1)])
            timed("scanners", "INSERT INTO scanner_hours VALUES " + ", ".join(["(?,?,?)"] * batch)
                  + " ON CONFLICT DO NOTHING", [v for r in rows for v in (r[10], HOUR, r[1])])
            # Distinct campaigns per row, so the upsert's rows never collide within the statement.
            timed("counters", "INSERT INTO campaign_hourly VALUES " + ", ".join(["(?,?,1,1,0)"] * batch)
                  + " ON CONFLICT DO UPDATE SET scans = scans + 1",
                  [v for i, r in enumerate(rows) for v in (i * 1000 + r[10], HOUR)])
            timed("commit", "COMMIT")

        pushes = args.batches * batch
        for name, seconds in cpu.items():
            print(f"{name:14s} {seconds * 1e6 / pushes:6.1f} µs CPU per push")
        print(f"{'total':14s} {sum(cpu.values()) * 1e6 / pushes:6.1f} µs CPU per push")
        frame = args.page_size + 24
        wal = os.path.getsize(path + "-wal")
        print(f"WAL: {wal} bytes, {wal / frame / args.batches:.0f} frames ({wal / args.batches / 1e6:.2f} MB) per "
              f"{batch}-push commit; synchronous={args.synchronous}, page_size={args.page_size}, SQLite {sqlite3.sqlite_version}")
        db.close()


if __name__ == "__main__":
    main()
