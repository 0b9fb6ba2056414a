//! The spool's own tests: appends and reads (from the file and from memory), the torn tail,
//! the cap, stored lines zeroed or compacted away, older line versions, refused and
//! unreadable lines set aside.

use super::*;
use chrono::Utc;

fn push(n: i64) -> Push {
    Push {
        account_id: 1,
        to_user: "gh".into(),
        openid: format!("o{n}"),
        create_time: n,
        msg_type: "event".into(),
        event: "SCAN".into(),
        event_key: "1".into(),
        ticket: None,
        received_at: Utc::now(),
    }
}

#[test]
fn a_full_spool_refuses_without_writing_and_takes_again_once_imported() {
    // Lines of one length: a fixed receipt time (now's fraction of a second varies in width).
    let push = |n| Push { received_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(), ..push(n) };
    let dir = tempfile::tempdir().unwrap();
    let one = serde_json::to_vec(&Line { v: 1, push: &push(1) }).unwrap().len() as u64 + 1;
    let mut s = Spool::open(dir.path()).unwrap().with_max_bytes(3 * one);
    s.append(vec![push(1), push(2)]).unwrap();
    let e = s.append(vec![push(3), push(4)]).unwrap_err();
    assert!(e.get_ref().is_some_and(|i| i.is::<Full>()), "{e}");
    assert!(s.note_full() && !s.note_full(), "one warning per episode");
    assert_eq!((s.waiting(), std::fs::metadata(s.path()).unwrap().len()), (2, 2 * one), "nothing of the refused call written");
    s.append(vec![push(3)]).unwrap();
    assert!(s.is_full());
    // The import makes room; what was acknowledged is all still there, in order.
    let read = s.read(10).unwrap();
    assert_eq!(read.iter().map(|l| l.push.create_time).collect::<Vec<_>>(), vec![1, 2, 3]);
    s.advance(read[1].end, 2, false).unwrap();
    assert!(!s.is_full());
    s.append(vec![push(4)]).unwrap();
    assert!(s.note_full(), "a new episode warns again");
}

#[test]
fn append_read_advance_and_torn_tail() {
    // With stored lines zeroed in place (holes) and without.
    for holes in [cfg!(target_os = "linux"), false] {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path()).unwrap();
        s.holes = holes;
        assert!(!s.pending());
        s.append(vec![push(1), push(2), push(3)]).unwrap();
        let first = s.read(2).unwrap();
        assert_eq!(first.iter().map(|l| l.push.create_time).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(s.waiting(), 3);
        s.advance(first[1].end, 2, false).unwrap();
        assert!(s.pending());
        assert_eq!(s.waiting(), 1);
        // A crash mid-append leaves a torn line; reopening cuts it and keeps the rest.
        drop(s);
        std::fs::OpenOptions::new().append(true).open(dir.path().join(SPOOL_FILE)).unwrap().write_all(b"{\"v\":1,\"pu").unwrap();
        let mut s = Spool::open(dir.path()).unwrap();
        s.holes = holes;
        // Replay restarts from the first line not zeroed: after the stored ones where holes
        // work, else from the front (the stored ones again, harmless duplicates).
        let replayed: Vec<i64> = if holes { vec![3] } else { vec![1, 2, 3] };
        assert_eq!(s.waiting(), replayed.len() as u64, "holes {holes}: counted on opening; the torn line is not a push");
        let all = s.read(10).unwrap();
        assert_eq!(all.iter().map(|l| l.push.create_time).collect::<Vec<_>>(), replayed, "holes {holes}");
        s.append(vec![push(4)]).unwrap();
        let all = s.read(10).unwrap();
        assert_eq!(all.len(), replayed.len() + 1);
        s.advance(all.last().unwrap().end, all.len() as u64, false).unwrap();
        assert!(!s.pending());
        assert_eq!(s.waiting(), 0);
        assert_eq!(std::fs::metadata(dir.path().join(SPOOL_FILE)).unwrap().len(), 0);
    }
}

#[test]
fn a_spool_that_never_runs_empty_is_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    let mut next = 0;
    let mut replayed: Vec<i64> = Vec::new();
    // Always one batch ahead of the replay, as under a long burst.
    s.append(
        (0..100)
            .map(|_| {
                next += 1;
                push(next)
            })
            .collect(),
    )
    .unwrap();
    let mut compactions = 0;
    while next < 60_000 {
        s.append(
            (0..100)
                .map(|_| {
                    next += 1;
                    push(next)
                })
                .collect(),
        )
        .unwrap();
        let lines = s.read(100).unwrap();
        replayed.extend(lines.iter().map(|l| l.push.create_time));
        let before = s.read_pos;
        s.advance(lines.last().unwrap().end, lines.len() as u64, false).unwrap();
        if s.read_pos < before {
            compactions += 1;
        }
        assert!(s.len < 2 * COMPACT_AT, "the file stays bounded");
    }
    assert!(compactions > 0, "a spool {} bytes long was never compacted", s.len);
    assert_eq!(s.waiting(), 100);
    assert!(replayed.iter().copied().eq(1..=next - 100), "replayed once each, in order");
    // A restart replays the file from its start: the lines not yet replayed, in order
    // (where stored lines could not be zeroed, behind those replayed since the last
    // compaction: harmless duplicates), but none of what a compaction dropped.
    drop(s);
    let mut s = Spool::open(dir.path()).unwrap();
    let again: Vec<i64> = s.read(1_000_000).unwrap().iter().map(|l| l.push.create_time).collect();
    let first = again[0];
    assert!(first > 1 && again.iter().copied().eq(first..=next), "after a restart: {first}..={:?}", again.last());
    assert!(((next - first + 1) as u64) * 100 < COMPACT_AT, "the restart replays less than a compaction's worth");
    assert!(!dir.path().join("callback-spool.compacting").exists());
}

/// The import's reads, whether served from memory or from the file, follow the file
/// exactly: every line once and in order when each import lands, the same lines again
/// after an import fails, across a mirror that fills up, drains and starts over.
#[test]
fn reads_from_memory_follow_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    // Room for about twenty lines, so the mirror fills up, drains and starts over.
    s.mirror_cap = 20 * serde_json::to_vec(&Line { v: 1, push: &push(1000) }).unwrap().len() as u64;
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next_rand = |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let (mut sent, mut replayed) = (0i64, Vec::new());
    let (mut from_memory, mut from_file) = (0, 0);
    for _ in 0..2_000 {
        if next_rand(3) > 0 {
            let n = 1 + next_rand(8) as i64;
            s.append((sent + 1..=sent + n).map(push).collect()).unwrap();
            sent += n;
        } else {
            let from_mirror = s.read_pos == s.mirror_start && !s.mirror.is_empty();
            let lines = s.read(1 + next_rand(40) as usize).unwrap();
            let Some(last) = lines.last() else { continue };
            let first = replayed.len() as i64 + 1;
            let got: Vec<i64> = lines.iter().map(|l| l.push.create_time).collect();
            assert!(got.iter().copied().eq(first..first + got.len() as i64), "read {got:?}, expected from {first}");
            if from_mirror {
                from_memory += 1
            } else {
                from_file += 1
            }
            if next_rand(4) == 0 {
                // The import failed: nothing advances; the next read starts here again.
                continue;
            }
            replayed.extend(got);
            s.advance(last.end, lines.len() as u64, false).unwrap();
        }
        assert_eq!(s.waiting(), (sent - replayed.len() as i64) as u64);
        assert!(s.read_pos <= s.mirror_start || s.mirror.is_empty());
    }
    assert!(from_memory > 50 && from_file > 50, "both paths ran: {from_memory} from memory, {from_file} from the file");
    let rest = s.read(usize::MAX).unwrap();
    replayed.extend(rest.iter().map(|l| l.push.create_time));
    assert!(replayed.into_iter().eq(1..=sent), "every line once, in order");
}

fn follower(openid: &str, n: i64, event: &str) -> Push {
    Push { openid: openid.into(), event: event.into(), ..push(n) }
}

/// The spool file's bytes: does any of them spell `needle`?
fn file_holds(dir: &Path, needle: &str) -> bool {
    std::fs::read(dir.join(SPOOL_FILE)).unwrap().windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A follower who subscribed and left, stored while later lines still wait (the spool
/// does not run empty): their lines leave the file at once, by a hole where the file
/// system can, else by a compaction after the import that held the unsubscribe. The
/// waiting line stays, and a restart replays it alone.
#[test]
fn stored_lines_leave_the_file_while_later_ones_wait() {
    for holes in [cfg!(target_os = "linux"), false] {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path()).unwrap();
        s.holes = holes;
        s.append(vec![follower("o-leaver", 1, "subscribe"), follower("o-stayer", 2, "SCAN")]).unwrap();
        // The first import: the subscribe alone (the spool keeps its lines so far).
        let first = s.read(1).unwrap();
        s.advance(first[0].end, 1, false).unwrap();
        assert_eq!(file_holds(dir.path(), "o-leaver"), !holes, "holes {holes}: zeroed at once where holes work");
        s.append(vec![follower("o-leaver", 3, "unsubscribe"), follower("o-later", 4, "SCAN")]).unwrap();
        let next = s.read(2).unwrap();
        assert_eq!(next.iter().map(|l| l.push.create_time).collect::<Vec<_>>(), vec![2, 3]);
        s.advance(next[1].end, 2, true).unwrap();
        assert!(!file_holds(dir.path(), "o-leaver"), "holes {holes}: the leaver's lines are still in the spool");
        assert!(!file_holds(dir.path(), "o-stayer"), "holes {holes}");
        assert!(file_holds(dir.path(), "o-later"), "holes {holes}: the waiting line stays");
        assert_eq!(s.waiting(), 1);
        // The next import reads what waits; so does a restart.
        assert_eq!(s.read(10).unwrap().iter().map(|l| l.push.create_time).collect::<Vec<_>>(), vec![4]);
        drop(s);
        let mut s = Spool::open(dir.path()).unwrap();
        assert_eq!((s.waiting(), s.pending()), (1, true), "holes {holes}");
        let again = s.read(10).unwrap();
        assert_eq!(again.iter().map(|l| l.push.openid.as_str()).collect::<Vec<_>>(), vec!["o-later"], "holes {holes}");
        s.advance(again[0].end, 1, false).unwrap();
        assert_eq!(std::fs::metadata(dir.path().join(SPOOL_FILE)).unwrap().len(), 0);
    }
}

/// Without holes and without an unsubscribe, stored lines stay until the spool runs empty
/// or is compacted (nothing to erase: a compaction would only cost).
#[test]
fn without_holes_only_an_erasure_compacts_early() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    s.holes = false;
    s.append(vec![follower("o-scanner", 1, "SCAN"), follower("o-later", 2, "SCAN")]).unwrap();
    let first = s.read(1).unwrap();
    s.advance(first[0].end, 1, false).unwrap();
    assert!(file_holds(dir.path(), "o-scanner"));
    assert_eq!(s.read_pos, first[0].end, "not compacted");
}

/// Spools written before pushes lost their raw XML are still read (the field is ignored).
#[test]
fn lines_of_older_versions_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let old = r#"{"v":1,"push":{"account_id":1,"to_user":"gh","openid":"o-old","create_time":7,"msg_type":"event","event":"SCAN","event_key":"1","ticket":null,"raw_xml":"<xml><FromUserName>o-old</FromUserName></xml>","received_at":"2026-01-01T00:00:00Z"}}"#;
    std::fs::write(dir.path().join(SPOOL_FILE), format!("{old}\n")).unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    let lines = s.read(10).unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!((lines[0].push.openid.as_str(), lines[0].push.create_time), ("o-old", 7));
}

#[test]
fn refused_pushes_are_kept_without_their_openid() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    s.reject(&follower("o-refused", 9, "SCAN"), "7f3a9c").unwrap();
    let kept = std::fs::read_to_string(dir.path().join(REJECTED_FILE)).unwrap();
    assert!(!kept.contains("o-refused"), "{kept}");
    let line: serde_json::Value = serde_json::from_str(kept.trim_end()).unwrap();
    assert_eq!((line["openid_hash"].as_str(), line["push"]["create_time"].as_i64()), (Some("7f3a9c"), Some(9)));
}

#[test]
fn unreadable_lines_are_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(SPOOL_FILE), "garbage\n").unwrap();
    let mut s = Spool::open(dir.path()).unwrap();
    s.append(vec![push(5)]).unwrap();
    let lines = s.read(10).unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].push.create_time, 5);
    assert_eq!(s.waiting(), 1, "the unreadable line set aside is not waiting");
    assert_eq!(std::fs::read_to_string(dir.path().join(REJECTED_FILE)).unwrap(), "garbage\n");
}
