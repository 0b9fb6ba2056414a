use super::*;

const SEC: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);

fn v4(last: u8) -> Option<IpAddr> {
    Some(IpAddr::from([192, 0, 2, last]))
}

/// `n` failures for `user` from `ip` at `at`, each let through.
fn fail(limiter: &LoginLimiter, user: &str, ip: Option<IpAddr>, n: u32, at: Instant) {
    for i in 0..n {
        assert!(limiter.begin_at(user, ip, None, at).is_ok(), "{user} failure {i}");
    }
}

#[test]
fn the_delay_doubles_from_thirty_seconds_to_fifteen_minutes() {
    assert_eq!(delay(0, 5), None);
    assert_eq!(delay(4, 5), None);
    let waits: Vec<u64> = (5..12).map(|n| delay(n, 5).unwrap().as_secs()).collect();
    assert_eq!(waits, [30, 60, 120, 240, 480, 900, 900]);
    assert_eq!(delay(u32::MAX, 5), Some(MAX_DELAY), "no overflow");
    assert_eq!(delay(0, 0), Some(FIRST_DELAY));
}

#[test]
fn failures_slow_the_pair_and_not_the_user_elsewhere() {
    let limiter = LoginLimiter::default();
    let t0 = Instant::now();
    fail(&limiter, "Admin", v4(1), 5, t0);
    // Same user in another spelling, same address: wait 30 s after the last failure.
    assert_eq!(limiter.begin_at(" admin", v4(1), None, t0 + 10 * SEC).unwrap_err(), 20 * SEC);
    // The same user from elsewhere, and another user from here, are not slowed.
    assert!(limiter.begin_at("admin", v4(2), None, t0).is_ok());
    assert!(limiter.begin_at("staff", v4(1), None, t0).is_ok());
    // Once waited out, one more try; its failure doubles the wait.
    assert!(limiter.begin_at("admin", v4(1), None, t0 + 30 * SEC).is_ok());
    assert_eq!(limiter.begin_at("admin", v4(1), None, t0 + 30 * SEC).unwrap_err(), MIN);
    assert!(limiter.begin_at("admin", v4(1), None, t0 + 90 * SEC).is_ok());
    assert_eq!(limiter.begin_at("admin", v4(1), None, t0 + 90 * SEC).unwrap_err(), 2 * MIN);
    // An hour after the last failure the count is forgotten.
    fail(&limiter, "admin", v4(1), 5, t0 + 90 * SEC + FORGET_AFTER);
}

#[test]
fn many_usernames_from_one_address_are_slowed_too() {
    let limiter = LoginLimiter::default();
    let t0 = Instant::now();
    for i in 0..20 {
        fail(&limiter, &format!("guess{i}"), v4(1), 1, t0);
    }
    assert_eq!(limiter.begin_at("guess20", v4(1), None, t0).unwrap_err(), FIRST_DELAY);
    assert_eq!(limiter.begin_at("staff", v4(1), None, t0).unwrap_err(), FIRST_DELAY, "a real user there too");
    assert!(limiter.begin_at("staff", v4(2), None, t0).is_ok(), "not elsewhere");
}

#[test]
fn a_known_device_is_never_slowed_by_others() {
    let limiter = LoginLimiter::default();
    let t0 = Instant::now();
    let device = Some([7u8; 16]);
    // A flood at this user from this very address, over both allowances.
    fail(&limiter, "admin", v4(1), 5, t0);
    for i in 0..20 {
        let _ = limiter.begin_at(&format!("guess{i}"), v4(1), None, t0);
    }
    assert!(limiter.begin_at("admin", v4(1), None, t0).is_err());
    let attempt = limiter.begin_at("admin", v4(1), device, t0).expect("the known device goes through");
    limiter.succeeded(attempt);
    // Its success resets nothing of the attacker's: strangers here still wait.
    assert!(limiter.begin_at("admin", v4(1), None, t0).is_err());
    // Its own failures count against it alone; past its allowance it is a stranger here.
    for i in 0..DEVICE_FREE {
        assert!(limiter.begin_at("admin", v4(1), device, t0).is_ok(), "device failure {i}");
    }
    assert!(limiter.begin_at("admin", v4(1), device, t0).is_err(), "now slowed as a stranger");
    assert!(limiter.begin_at("admin", v4(2), device, t0).is_ok(), "as a stranger elsewhere");
    assert!(limiter.begin_at("admin", v4(1), Some([8u8; 16]), t0).is_ok(), "another device");
}

#[test]
fn a_success_clears_the_pair_and_takes_itself_back_from_the_address() {
    let limiter = LoginLimiter::new(2, 3, 10);
    let t0 = Instant::now();
    fail(&limiter, "a", v4(1), 1, t0);
    let ok = limiter.begin_at("a", v4(1), None, t0).unwrap();
    limiter.succeeded(ok);
    // The pair is clear again; the address keeps the one failure, the success did not count.
    fail(&limiter, "a", v4(1), 1, t0);
    fail(&limiter, "b", v4(1), 1, t0);
    assert!(limiter.begin_at("c", v4(1), None, t0).is_err(), "3 failures from the address");
    // A server error counts against nobody.
    let limiter = LoginLimiter::new(1, 1, 1);
    let err = limiter.begin_at("a", v4(1), None, t0).unwrap();
    limiter.not_counted(err);
    let err = limiter.begin_at("a", v4(1), Some([1; 16]), t0).unwrap();
    limiter.not_counted(err);
    assert!(limiter.begin_at("a", v4(1), None, t0).is_ok());
    assert!(limiter.begin_at("a", v4(2), Some([1; 16]), t0).is_ok(), "the device is still known");
}

#[test]
fn ipv6_counts_by_64_prefix_and_mapped_ipv4_as_ipv4() {
    let limiter = LoginLimiter::new(100, 1, 10);
    let t0 = Instant::now();
    let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
    let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
    let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
    let _ = limiter.begin_at("x", Some(a), None, t0).unwrap();
    assert!(limiter.begin_at("y", Some(b), None, t0).is_err(), "same /64");
    assert!(limiter.begin_at("y", Some(c), None, t0).is_ok(), "another /64");
    let _ = limiter.begin_at("x", v4(7), None, t0).unwrap();
    let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
    assert!(limiter.begin_at("z", Some(mapped), None, t0).is_err());
}

#[test]
fn memory_stays_bounded_and_targeted_counts_survive_a_flood() {
    let mut b: Backoff<String> = Backoff { cap: 100, ..Backoff::new(5) };
    let t0 = Instant::now();
    for _ in 0..4 {
        b.record(&"victim".to_owned(), t0);
    }
    for i in 0..10_000u64 {
        b.record(&format!("random-{i}"), t0 + Duration::from_millis(i));
    }
    assert!(b.map.len() <= 100, "{} keys", b.map.len());
    assert_eq!(b.map.get("victim").map(|c| c.failures), Some(4), "the guessed-at key keeps its count");
    // Forgotten entries go first.
    b.record(&"fresh".to_owned(), t0 + 2 * FORGET_AFTER);
    assert_eq!(b.map.len(), 1);
    assert_eq!(Backoff::<String>::new(5).cap, MAX_KEYS);
}

#[test]
fn retry_after_rounds_up() {
    assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
    assert_eq!(retry_after_secs(Duration::from_secs(720)), 720);
    assert_eq!(retry_after_secs(Duration::from_millis(720_001)), 721);
    assert_eq!(retry_after_secs(Duration::ZERO), 1);
}
