//! Users and sessions on real SQLite and PostgreSQL.

use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use service::entity::{session, user};
use service::testing::TestDb;
use service::users::Role;
use service::{ServiceError, dual_test, sessions, users};

dual_test!(create_and_authenticate, |t: TestDb| async move {
    let db = &t.db;
    let u = users::create(db, "alice", "correct horse", Role::Admin, None).await.unwrap();
    assert_eq!(u.role, Role::Admin);
    let stored = user::Entity::find_by_id(u.id).one(db).await.unwrap().unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"), "argon2id hash stored");
    assert!(!stored.password_hash.contains("correct horse"));

    assert_eq!(users::authenticate(db, "alice", "correct horse").await.unwrap().id, u.id);
    assert!(matches!(users::authenticate(db, "alice", "wrong password").await, Err(ServiceError::Unauthorized)));
    assert!(matches!(users::authenticate(db, "nobody", "correct horse").await, Err(ServiceError::Unauthorized)));
    assert_eq!(users::count(db).await.unwrap(), 1);
});

dual_test!(bad_users_are_refused, |t: TestDb| async move {
    let db = &t.db;
    users::create(db, "bob", "longenough", Role::Staff, None).await.unwrap();
    let dup = users::create(db, "bob", "longenough", Role::Staff, None).await;
    assert!(matches!(dup, Err(ServiceError::Conflict { field: "username", .. })), "duplicate username is a field error");
    assert!(matches!(
        users::create(db, "carol", "short", Role::Staff, None).await,
        Err(ServiceError::Validation { field: "password", .. })
    ));
    assert!(matches!(
        users::create(db, "bad name", "longenough", Role::Staff, None).await,
        Err(ServiceError::Validation { field: "username", .. })
    ));
    assert_eq!(users::count(db).await.unwrap(), 1, "nothing stored for refused input");
});

dual_test!(disabled_user_cannot_log_in_or_use_session, |t: TestDb| async move {
    let st = t.state();
    let u = users::create(&st.db, "dave", "longenough", Role::Staff, None).await.unwrap();
    let s = sessions::create(&st.db, &st.keys, u.id, Some("test")).await.unwrap();
    assert!(sessions::lookup(&st.db, &st.keys, &s.token).await.unwrap().is_some());
    let mut m: user::ActiveModel = user::Entity::find_by_id(u.id).one(&st.db).await.unwrap().unwrap().into();
    m.disabled = Set(true);
    m.update(&st.db).await.unwrap();
    assert!(sessions::lookup(&st.db, &st.keys, &s.token).await.unwrap().is_none());
    assert!(matches!(users::authenticate(&st.db, "dave", "longenough").await, Err(ServiceError::Unauthorized)));
});

dual_test!(sessions_expire_and_end, |t: TestDb| async move {
    let st = t.state();
    let u = users::create(&st.db, "erin", "longenough", Role::Staff, None).await.unwrap();
    let s = sessions::create(&st.db, &st.keys, u.id, None).await.unwrap();
    assert_eq!(sessions::lookup(&st.db, &st.keys, &s.token).await.unwrap().unwrap().username, "erin");

    // The database never holds the token itself.
    let rows = session::Entity::find().all(&st.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].id, s.token);

    // Another key (e.g. a rotated secret) does not open the session.
    let other = service::Keys::random();
    assert!(sessions::lookup(&st.db, &other, &s.token).await.unwrap().is_none());

    // Expired: refused, then purged.
    let mut m: session::ActiveModel = rows[0].clone().into();
    m.expires_at = Set(chrono::Utc::now() - chrono::Duration::seconds(1));
    m.update(&st.db).await.unwrap();
    assert!(sessions::lookup(&st.db, &st.keys, &s.token).await.unwrap().is_none());
    assert_eq!(sessions::purge_expired(&st.db).await.unwrap(), 1);

    // Logout removes the session.
    let s2 = sessions::create(&st.db, &st.keys, u.id, None).await.unwrap();
    sessions::destroy(&st.db, &st.keys, &s2.token).await.unwrap();
    assert!(sessions::lookup(&st.db, &st.keys, &s2.token).await.unwrap().is_none());
    assert!(sessions::lookup(&st.db, &st.keys, "").await.unwrap().is_none());
});

// A flood of sign-ins, right and wrong, waits its turn for argon2: never more than
// MAX_CONCURRENT_HASHES computations (19 MiB each) at once, and every answer still right.
dual_test!(password_hashing_is_bounded_under_a_flood, |t: TestDb| async move {
    users::create(&t.db, "flood", "flood-password", Role::Staff, None).await.unwrap();
    let attempts: Vec<_> = (0..16)
        .map(|i| {
            let db = t.db.clone();
            tokio::spawn(async move {
                let password = if i % 2 == 0 { "flood-password" } else { "wrong-password" };
                (i, users::authenticate(&db, "flood", password).await.is_ok())
            })
        })
        .collect();
    for a in attempts {
        let (i, ok) = a.await.unwrap();
        assert_eq!(ok, i % 2 == 0, "attempt {i}");
    }
    let peak = users::hashing_peak();
    assert!((1..=users::MAX_CONCURRENT_HASHES).contains(&peak), "{peak} hashes at once");
});
