#!/usr/bin/env python3
"""Copy a seeded Sceneboard SQLite database into a migrated, empty PostgreSQL database.

Used by scripts/bench-analytics.sh: the 10 M-event generator stores through the real ingest
path, which on PostgreSQL (one writer, a round trip per statement) would take hours on a
2-core machine; the analytics benchmark needs the same rows, not the same way of getting
them. Every table is streamed row by row into `COPY ... FROM STDIN` (psql), then the id
sequences are moved past the copied ids.

    scripts/sqlite-to-pg.py SQLITE_FILE POSTGRES_URL

Values: NULL stays NULL (unquoted empty field), text is always quoted (so '' stays ''),
blobs go as bytea hex, SQLite's 0/1 booleans are accepted by PostgreSQL as they are, and
timestamps (RFC 3339 text) parse as timestamptz.
"""
import sqlite3
import subprocess
import sys
import time

# Parents before children (foreign keys).
ORDER = [
    "users", "sessions", "wechat_accounts", "access_tokens", "campaigns", "qr_codes", "events",
    "subscriptions", "campaign_hourly", "account_hourly", "scanner_hours",
    "jobs", "audit_log",
]


def field(v):
    if v is None:
        return ""
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, bytes):
        return '"\\x' + v.hex() + '"'
    return '"' + str(v).replace('"', '""') + '"'


def main():
    src, url = sys.argv[1], sys.argv[2]
    db = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [t for t in ORDER if t not in tables]
    if missing:
        sys.exit(f"sqlite-to-pg: tables missing in {src}: {missing}")
    for table in ORDER:
        info = list(db.execute(f"PRAGMA table_info({table})"))
        cols = [r[1] for r in info]
        # Only integer ids have a sequence to move (sessions are keyed by a random text id).
        serial_id = any(r[1] == "id" and "int" in r[2].lower() for r in info)
        names = ", ".join(cols)
        # Rows go in the order they were written, as PostgreSQL's heap would hold them after a
        # real ingest: rowid order, or for the clustered counter tables (WITHOUT ROWID, kept
        # in key order) their hour.
        create = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
        if create.rstrip().upper().endswith("WITHOUT ROWID"):
            order = "ORDER BY hour" if "hour" in cols else ""
        else:
            order = "ORDER BY rowid"
        started = time.time()
        psql = subprocess.Popen(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", f"COPY {table} ({names}) FROM STDIN WITH (FORMAT csv)"],
            stdin=subprocess.PIPE, text=True, bufsize=1 << 20,
        )
        n = 0
        for row in db.execute(f"SELECT {names} FROM {table} {order}"):
            psql.stdin.write(",".join(field(v) for v in row) + "\n")
            n += 1
        psql.stdin.close()
        if psql.wait() != 0:
            sys.exit(f"sqlite-to-pg: COPY {table} failed")
        if serial_id:
            subprocess.run(
                ["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c",
                 f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT max(id) FROM {table}), 1))"],
                check=True, stdout=subprocess.DEVNULL,
            )
        print(f"    {table}: {n} rows in {time.time() - started:.0f} s", flush=True)
    # VACUUM as well as ANALYZE: a freshly copied table has no visibility map, so every
    # index-only scan would visit the heap row by row. A server that ingested the same rows
    # over months would have had them vacuumed by autovacuum (inserts trigger it since
    # PostgreSQL 13); benchmarking without it measured a state production never stays in.
    subprocess.run(["psql", "-q", url, "-c", "VACUUM ANALYZE"], check=True)


if __name__ == "__main__":
    main()
