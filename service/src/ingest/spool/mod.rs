//! The spool: pushes acknowledged while the database was unreachable or busy with another
//! batch (a burst), one JSON line each,
//! fsynced before the answer goes out. The writer replays it from the front; the file is
//! emptied only once every line is committed. A crash at any point loses nothing: a line
//! replayed twice is a duplicate push, which the events table's unique key turns into a no-op.
//!
//! Lines already stored do not stay in the file while later ones wait (a spool that never
//! runs empty under a long burst): each import's lines are zeroed in place at once, so an
//! unsubscribed follower's OpenID does not outlive its import on disk (WeChat's erasure rule).
//! On Linux that is a hole punched over them (`fallocate`): no bytes copied and no fsync, one
//! system call per import. It is not synced on purpose: a crash can bring back only lines
//! that the restart replays (duplicates, no-ops) and then drops again. Where the file system
//! cannot punch holes, an import that held an unsubscribe compacts the spool instead (the
//! waiting lines copied to a fresh file: their size in bytes, plus an fsync).

use super::{Push, REJECTED_FILE, SPOOL_FILE};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Once this much of the file has been replayed while more keeps arriving (a long burst: the
/// spool never runs empty, so it is never truncated), the rest is moved to a fresh file.
const COMPACT_AT: u64 = 8 << 20;

/// Most bytes of spool lines also kept in memory for the import (see [`Spool::read`]); a
/// backlog beyond that is read back from the file.
const MIRROR_MAX: u64 = 8 << 20;

/// The line format; `v` lets a later version read older spools. Written from a borrowed
/// push (`Line<&Push>`: no copy of its XML per line), read into an owned one.
#[derive(Serialize, Deserialize)]
struct Line<P> {
    v: u8,
    push: P,
}

/// A line of the rejected file: the push without its OpenID, and the OpenID's keyed hash.
#[derive(Serialize)]
struct Rejected<'a> {
    v: u8,
    openid_hash: &'a str,
    push: &'a Push,
}

/// A spooled push and the file offset just after its line.
pub(crate) struct Spooled {
    pub(crate) push: Push,
    pub(crate) end: u64,
}

/// The spool file of this instance. Only the writer touches it. Its I/O is blocking on
/// purpose: the writer must wait for the fsync before answering anyway, and it runs on a
/// thread of its own (`Ingestor::spawn`), so no other task waits behind the fsync.
pub(crate) struct Spool {
    path: PathBuf,
    rejected: PathBuf,
    file: File,
    len: u64,
    read_pos: u64,
    /// The front of the file already zeroed (a hole), up to at most `read_pos`.
    zeroed: u64,
    /// Can stored lines be zeroed in place? Until a try says the file system cannot.
    holes: bool,
    /// Pushes in the file not yet replayed (for the dashboard's banner).
    lines: u64,
    /// The newest lines, also in memory: those of the file from `mirror_start` on, as they
    /// were appended, up to [`MIRROR_MAX`] bytes of them. Under a burst the import takes
    /// them from here, in order, instead of reading the file back and parsing each line's
    /// JSON on the writer's task. Always `read_pos <= mirror_start`; lines before
    /// `mirror_start` (an import that failed, a backlog past the cap, a spool found at
    /// startup) are read from the file.
    mirror: VecDeque<Spooled>,
    mirror_start: u64,
    mirror_cap: u64,
    /// Most bytes of lines waiting to be imported; past it, appends are refused ([`Full`]).
    max_bytes: u64,
    /// Refusing for fullness since the last append that fit (one warning per episode).
    full: bool,
}

/// The spool holds its configured maximum: the push is refused, not written.
#[derive(Debug, thiserror::Error)]
#[error("the spool is full ({0} bytes wait to be imported)")]
pub(crate) struct Full(pub(crate) u64);

impl Spool {
    /// Opens (creating) the spool in `dir`. A torn last line (a crash in the middle of an
    /// append that was therefore never acknowledged) is cut off, so later appends start on a
    /// fresh line.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(SPOOL_FILE);
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&path)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        let keep = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if keep < data.len() {
            tracing::warn!(path = %path.display(), bytes = data.len() - keep, "cutting a torn line off the spool");
            file.set_len(keep as u64)?;
            file.sync_all()?;
        }
        let lines = data[..keep].iter().filter(|&&b| b == b'\n').count() as u64;
        let len = keep as u64;
        // Stored lines that were zeroed read as NUL bytes: replay starts after them.
        let start = data[..keep].iter().position(|&b| b != 0).unwrap_or(keep) as u64;
        Ok(Self {
            rejected: dir.join(REJECTED_FILE),
            path,
            file,
            len,
            read_pos: start,
            zeroed: start,
            holes: cfg!(target_os = "linux"),
            lines,
            mirror: VecDeque::new(),
            mirror_start: len,
            mirror_cap: MIRROR_MAX,
            max_bytes: u64::MAX,
            full: false,
        })
    }

    /// Caps the bytes waiting to be imported (see [`super::IngestOptions::spool_max_bytes`]).
    pub(crate) fn with_max_bytes(mut self, max: u64) -> Self {
        self.max_bytes = max;
        self
    }

    /// Bytes of lines waiting to be imported.
    pub(crate) fn waiting_bytes(&self) -> u64 {
        self.len - self.read_pos
    }

    /// Has the spool reached its cap?
    pub(crate) fn is_full(&self) -> bool {
        self.waiting_bytes() >= self.max_bytes
    }

    /// Records a refusal for fullness; true for the first of an episode (worth a warning).
    pub(crate) fn note_full(&mut self) -> bool {
        !std::mem::replace(&mut self.full, true)
    }

    /// The end of the mirrored lines.
    fn mirror_end(&self) -> u64 {
        self.mirror.back().map_or(self.mirror_start, |l| l.end)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Lines not yet replayed?
    pub(crate) fn pending(&self) -> bool {
        self.read_pos < self.len
    }

    /// When the oldest push waiting to be imported was received, if that push is held in
    /// memory; `None` when nothing waits or it has to be read from the file (a backlog past
    /// the memory cap, an import that failed, a spool found at startup): those are not a
    /// burst's newest pushes, so they are imported without waiting.
    pub(crate) fn oldest_waiting(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        if self.read_pos != self.mirror_start {
            return None;
        }
        self.mirror.front().map(|l| l.push.received_at)
    }

    /// How many pushes wait to be replayed.
    pub(crate) fn waiting(&self) -> u64 {
        self.lines
    }

    /// Appends the pushes and fsyncs; on failure the file is cut back, so no torn line is
    /// left behind and nothing of this call counts as spooled. The pushes are kept in memory
    /// for the import while the mirror has room.
    pub(crate) fn append(&mut self, pushes: Vec<Push>) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut ends = Vec::with_capacity(pushes.len());
        for push in &pushes {
            serde_json::to_writer(&mut buf, &Line { v: 1, push }).map_err(io::Error::other)?;
            buf.push(b'\n');
            ends.push(self.len + buf.len() as u64);
        }
        if self.waiting_bytes() + buf.len() as u64 > self.max_bytes {
            return Err(io::Error::other(Full(self.waiting_bytes())));
        }
        let written = self.file.write_all(&buf).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        let count = ends.len() as u64;
        if self.mirror.is_empty() {
            // Nothing held: start over at the tail (older lines come from the file).
            self.mirror_start = self.len;
        }
        let contiguous = self.mirror_end() == self.len;
        if contiguous && self.len + buf.len() as u64 - self.mirror_start <= self.mirror_cap {
            self.mirror.extend(pushes.into_iter().zip(ends).map(|(push, end)| Spooled { push, end }));
        }
        self.len += buf.len() as u64;
        self.lines += count;
        self.full = false;
        Ok(())
    }

    /// Up to `max` pushes from the replay position: from the file up to where the mirror
    /// starts, then from memory (lines that cannot be read are moved to the rejected file
    /// rather than blocking the spool forever). Reading does not move the replay position
    /// ([`Spool::advance`] does): lines read again after a failed import come from the file.
    pub(crate) fn read(&mut self, max: usize) -> io::Result<Vec<Spooled>> {
        let mut out = Vec::new();
        let mut pos = self.read_pos;
        let limit = if self.mirror.is_empty() { self.len } else { self.mirror_start };
        if pos < limit {
            let mut reader = BufReader::new(File::open(&self.path)?);
            reader.seek(SeekFrom::Start(pos))?;
            let mut line = String::new();
            while out.len() < max && pos < limit {
                line.clear();
                let n = reader.read_line(&mut line)?;
                if n == 0 {
                    break;
                }
                pos += n as u64;
                match serde_json::from_str::<Line<Push>>(line.trim_end()) {
                    Ok(l) => out.push(Spooled { push: l.push, end: pos }),
                    // Set aside only when it is first in line, so it is moved exactly once;
                    // after good lines, stop and let the next call start with it.
                    Err(_) if !out.is_empty() => return Ok(out),
                    Err(e) => {
                        tracing::error!(error = %e, "unreadable spool line moved to {}", self.rejected.display());
                        self.reject_raw(line.trim_end())?;
                        self.read_pos = pos;
                        self.lines = self.lines.saturating_sub(1);
                    }
                }
            }
        }
        if pos == self.mirror_start && out.len() < max && !self.mirror.is_empty() {
            let take = (max - out.len()).min(self.mirror.len());
            out.extend(self.mirror.drain(..take));
            self.mirror_start = out.last().map_or(self.mirror_start, |l| l.end);
        }
        Ok(out)
    }

    /// Everything up to `end` is committed; that was `lines` more pushes (`erases`: one of
    /// them was an unsubscribe). The committed lines leave the file at once (see the header).
    pub(crate) fn advance(&mut self, end: u64, lines: u64, erases: bool) -> io::Result<()> {
        if end > self.read_pos {
            self.lines = self.lines.saturating_sub(lines);
        }
        self.read_pos = self.read_pos.max(end);
        if self.read_pos >= self.len && self.len > 0 {
            // All committed: empty the file (durably, so a restart does not replay again;
            // replaying would be harmless, only slow).
            self.file.set_len(0)?;
            self.file.sync_all()?;
            self.len = 0;
            self.read_pos = 0;
            self.zeroed = 0;
            self.lines = 0;
            self.mirror.clear();
            self.mirror_start = 0;
        } else if self.read_pos >= COMPACT_AT || (self.read_pos > self.zeroed && !self.zero_stored() && erases) {
            self.compact()?;
        }
        Ok(())
    }

    /// Zeroes the stored lines at the front of the file (`zeroed..read_pos`) by punching a
    /// hole over them; false where the platform or file system cannot.
    fn zero_stored(&mut self) -> bool {
        if !self.holes {
            return false;
        }
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{FallocateFlags, fallocate};
            let flags = FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE;
            match fallocate(&self.file, flags, self.zeroed, self.read_pos - self.zeroed) {
                Ok(()) => {
                    self.zeroed = self.read_pos;
                    return true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, path = %self.path.display(), "cannot punch holes in the spool; it is compacted after erasures instead");
                    self.holes = false;
                }
            }
        }
        false
    }

    /// Moves the lines not yet replayed to a fresh file that replaces the spool (rename, so a
    /// crash leaves either the old file, whose replayed lines would be harmless duplicates, or
    /// the new one). The new file is opened before the rename, so appends can never go to an
    /// unlinked file.
    fn compact(&mut self) -> io::Result<()> {
        let mut old = File::open(&self.path)?;
        old.seek(SeekFrom::Start(self.read_pos))?;
        let tmp = self.path.with_extension("compacting");
        let mut fresh = OpenOptions::new().read(true).append(true).create(true).truncate(false).open(&tmp)?;
        fresh.set_len(0)?;
        // File to file without a buffer the size of the rest (a long burst's backlog can be
        // tens of megabytes; the kernel copies it: copy_file_range on Linux).
        let kept = io::copy(&mut old.take(self.len - self.read_pos), &mut fresh)?;
        if kept != self.len - self.read_pos {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the spool is shorter than expected"));
        }
        fresh.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.file = fresh;
        self.len = kept;
        // The kept lines moved to the front of the new file.
        let shift = self.read_pos;
        if self.mirror.is_empty() {
            self.mirror_start = self.len;
        } else {
            self.mirror_start -= shift;
            for line in &mut self.mirror {
                line.end -= shift;
            }
        }
        self.read_pos = 0;
        self.zeroed = 0;
        Ok(())
    }

    /// Keeps a push the database refused (not an outage) for an operator to look at, with the
    /// follower's keyed hash in place of the OpenID: the file is kept until an operator
    /// deletes it, and must not keep an OpenID past the follower's unsubscribe.
    pub(crate) fn reject(&mut self, push: &Push, openid_hash: &str) -> io::Result<()> {
        let push = Push { openid: String::new(), ..push.clone() };
        let line = serde_json::to_string(&Rejected { v: 1, openid_hash, push: &push }).map_err(io::Error::other)?;
        self.reject_raw(&line)
    }

    fn reject_raw(&self, line: &str) -> io::Result<()> {
        let mut f = OpenOptions::new().append(true).create(true).open(&self.rejected)?;
        f.write_all(line.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_data()
    }
}

#[cfg(test)]
mod tests;
