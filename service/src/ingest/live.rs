//! Liveness for load balancers (`/livez`): can this instance accept pushes and journal them,
//! whatever the database's state? That needs the writer running and the spool's directory
//! able to take a synced write with room to spare. It says nothing about the database, on
//! purpose: during an outage every instance must stay in the balancer, spooling.

use std::io::Write;
use std::path::Path;

/// Below this much free space (room for about fifty spool lines) the spool's disk counts as
/// full: the instance is not live, so the balancer sends pushes to one that can keep them.
/// It is live again as soon as there is room, e.g. once the spool drained: no push has to
/// get through first.
pub const MIN_FREE: u64 = 16 << 10;

/// Name of the file the probe writes in the data dir.
const PROBE_FILE: &str = ".livez";

/// A small write, synced, in `dir`, and the free space there; `Err` in words when either fails.
pub(crate) fn probe(dir: &Path) -> Result<(), String> {
    let path = dir.join(PROBE_FILE);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut f| f.write_all(b"live\n").and_then(|()| f.sync_data()));
    if let Err(e) = written {
        return Err(format!("the spool's directory cannot be written: {e}"));
    }
    let free = rustix::fs::statvfs(dir)
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .map_err(|e| format!("cannot read the spool disk's free space: {e}"))?;
    if free < MIN_FREE {
        return Err(format!("the spool's disk is full ({free} bytes free)"));
    }
    Ok(())
}
