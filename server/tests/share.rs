//! Share links over real HTTP on SQLite and PostgreSQL: a link shows its campaign or group and
//! nothing else of the account (a crawl from it reaches no other campaign, no settings, no
//! export), ends when revoked, expired or archived, and keeps its numbers behind its password.

mod support;

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, COOKIE, LOCATION, REFERRER_POLICY, RETRY_AFTER, SET_COOKIE};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use service::dual_test;
use service::entity::{campaign_hourly, share_link};
use service::share_links::{self, NewShare, Target};
use service::testing::TestDb;
use support::{Running, campaign as create, refused_field, sandbox_account, start};

async fn followed(r: &Running, c: i32, n: i64) {
    let hour = (Utc::now() - Duration::days(2)).timestamp() / 3600 * 3600;
    campaign_hourly::ActiveModel { campaign_id: Set(c), hour: Set(hour), scans: Set(n), new_followers: Set(n), unsubscribes: Set(0) }
        .insert(&r.t.db)
        .await
        .unwrap();
}

async fn share(r: &Running, target: Target, days: Option<&str>, password: Option<&str>) -> String {
    let new = NewShare { target, expires_days: days.map(str::to_owned), password: password.map(str::to_owned) };
    let link = share_links::create(&r.state, new, None, Utc::now()).await.unwrap();
    link.token.unwrap()
}

/// GET without a session: status, headers, body.
async fn open(r: &Running, path: &str, cookie: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = r.http.get(format!("{}{path}", r.base)).header("accept", "text/html");
    if !cookie.is_empty() {
        req = req.header(COOKIE, cookie);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.headers().clone(), res.text().await.unwrap())
}

/// Every address a page points at (`href`, `src`, `action`), entities decoded.
fn addresses(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\"", "action=\""] {
        for part in html.split(attr).skip(1) {
            out.push(part.split('"').next().unwrap().replace("&amp;", "&"));
        }
    }
    out
}

dual_test!(a_link_shows_its_campaign_and_nothing_else, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, a) = sandbox_account(&r).await;
    let shown = create(&r, a, "Shown poster", Some("Stores")).await;
    let sibling = create(&r, a, "Sibling flyer", Some("Stores")).await;
    let hidden = create(&r, a, "Hidden secret campaign", None).await;
    followed(&r, shown.id, 12).await;
    followed(&r, sibling.id, 5).await;
    followed(&r, hidden.id, 40).await;
    let token = share(&r, Target::Campaign(shown.id), Some("7"), None).await;
    let base = format!("/s/{token}");

    let (status, headers, page) = open(&r, &base, "").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(headers["x-robots-tag"], "noindex, nofollow");
    assert_eq!(headers[REFERRER_POLICY], "same-origin");
    assert_eq!(headers[CACHE_CONTROL], "private, no-store");
    assert!(page.contains("<meta name=\"robots\" content=\"noindex, nofollow\">"));
    assert!(page.contains("Shown poster") && page.contains("data-testid=\"share-chart\""), "{page}");
    assert!(page.contains("data-testid=\"share-retention\""));
    assert!(!page.contains("<script"), "no script on a share page");

    // A crawl from the link: every address is the link itself or the stylesheet, and no page
    // it reaches names another campaign.
    let mut seen = std::collections::HashSet::new();
    let mut queue = vec![base.clone()];
    while let Some(path) = queue.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let (status, _, page) = open(&r, &path, "").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        for other in ["Sibling flyer", "Hidden secret campaign"] {
            assert!(!page.contains(other), "{path} names {other}");
        }
        for addr in addresses(&page) {
            if addr.starts_with("/pkg/") && addr.ends_with(".css") {
                continue;
            }
            assert!(addr.starts_with(&format!("{base}?")), "{path} points at {addr}");
            queue.push(addr);
        }
    }
    assert!(seen.len() >= 5, "the presets and the other language were followed: {seen:?}");

    // The token opens no other door: exports, pages and the API still want a session or a key.
    let other = [
        format!("/export/campaigns/{}/stats.csv", shown.id),
        format!("/export/campaigns/{}/stats.csv", hidden.id),
        "/export/campaigns.csv".to_owned(),
        "/api/v1/campaigns".to_owned(),
    ];
    for path in other {
        let res = r.http.get(format!("{}{path}", r.base)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    for path in [format!("/campaigns/{}", hidden.id), "/settings".to_owned()] {
        let (status, headers, _) = open(&r, &path, "").await;
        assert!(status.is_redirection() && headers[LOCATION].to_str().unwrap().starts_with("/login"), "{path}: {status}");
    }

    // A group's link shows the group, within its account, and its total.
    let group = share(&r, Target::Group { account_id: a, group: "Stores".into() }, None, None).await;
    let (status, _, page) = open(&r, &format!("/s/{group}?days=30&lang=en"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Shown poster") && page.contains("Sibling flyer") && !page.contains("Hidden secret campaign"), "{page}");
    assert!(page.contains("<th>Total</th><th class=\"num\">17</th>"), "scans 12 + 5: {page}");

    // One answer for every token that opens nothing: unknown, revoked, expired, archived.
    let (status, _, gone) = open(&r, "/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(gone.contains("data-testid=\"share-gone\""));
    let id_of = |token: &str| share_links::token_hash(token);
    let row = share_link::Entity::find().filter(share_link::Column::TokenHash.eq(id_of(&group))).one(&r.t.db).await.unwrap().unwrap();
    share_links::revoke(&r.state, row.id, None, Utc::now()).await.unwrap();
    assert_eq!(open(&r, &format!("/s/{group}"), "").await.2, gone, "revoked");
    let row = share_link::Entity::find().filter(share_link::Column::TokenHash.eq(id_of(&token))).one(&r.t.db).await.unwrap().unwrap();
    let mut expired: share_link::ActiveModel = row.into();
    expired.expires_at = Set(Some(Utc::now() - Duration::seconds(1)));
    expired.update(&r.t.db).await.unwrap();
    assert_eq!(open(&r, &base, "").await.0, StatusCode::NOT_FOUND, "expired");
    let fresh = share(&r, Target::Campaign(sibling.id), None, None).await;
    assert_eq!(open(&r, &format!("/s/{fresh}"), "").await.0, StatusCode::OK);
    service::campaigns::archive(&r.state, sibling.id, None).await.unwrap();
    assert_eq!(open(&r, &format!("/s/{fresh}"), "").await.0, StatusCode::NOT_FOUND, "archived");
});

dual_test!(a_password_keeps_the_numbers_behind_it, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, a) = sandbox_account(&r).await;
    let c = create(&r, a, "Guarded", None).await;
    let other = create(&r, a, "Also guarded", None).await;
    let token = share(&r, Target::Campaign(c.id), None, Some("open sesame")).await;
    let second = share(&r, Target::Campaign(other.id), None, Some("open sesame")).await;
    let path = format!("/s/{token}");

    let (status, _, page) = open(&r, &path, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("data-testid=\"share-password\"") && !page.contains("Guarded") && !page.contains("share-chart"), "{page}");

    let post = |password: &'static str| {
        let (r, path) = (&r, path.clone());
        async move { r.http.post(format!("{}{path}", r.base)).form(&[("password", password)]).send().await.unwrap() }
    };
    let wrong = post("guess").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("data-testid=\"share-error\""));
    let right = post("open sesame").await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    let set = right.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set.contains(&format!("Path=/s/{token}")) && set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
    assert!(set.contains("Max-Age=43200"), "remembered 12 hours, as README says: {set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    let (status, _, page) = open(&r, &path, &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Guarded") && page.contains("share-chart"), "unlocked: {page}");
    // The cookie of one link opens no other, even one with the same password.
    let renamed =
        cookie.replacen(&format!("sb_share_{}", share_id(&r, &token).await), &format!("sb_share_{}", share_id(&r, &second).await), 1);
    let (_, _, page) = open(&r, &format!("/s/{second}"), &renamed).await;
    assert!(page.contains("data-testid=\"share-password\"") && !page.contains("Also guarded"), "{page}");

    // Guessing is slowed: the burst of tries, then 429 with Retry-After.
    let mut limited = None;
    for i in 0..20 {
        let res = post("guess again").await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((i, res.headers()[RETRY_AFTER].to_str().unwrap().parse::<u64>().unwrap()));
            break;
        }
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let (i, wait) = limited.expect("refused after a burst");
    assert!(i >= 3 && (1..=60).contains(&wait), "refused after {i} tries, wait {wait}");
});

async fn share_id(r: &Running, token: &str) -> i32 {
    share_link::Entity::find()
        .filter(share_link::Column::TokenHash.eq(share_links::token_hash(token)))
        .one(&r.t.db)
        .await
        .unwrap()
        .unwrap()
        .id
}

dual_test!(staff_share_and_revoke_from_the_campaign_page, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, a) = sandbox_account(&r).await;
    let grouped = create(&r, a, "Grouped", Some("Malls")).await;
    let alone = create(&r, a, "Alone", None).await;
    let staff = r.login("staff", "staff-password").await;
    let page = format!("/campaigns/{}", grouped.id);
    let id = grouped.id.to_string();

    let (status, location) =
        r.post_form("create_share_link", &staff, &page, &[("id", &id), ("scope", "campaign"), ("expires_days", "30")]).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::FOUND, format!("/campaigns/{id}?shared=1#share").as_str()),
        "JS off: back to the card"
    );
    let (_, location) =
        r.post_form("create_share_link", &staff, &page, &[("id", &id), ("scope", "group"), ("password", "long enough")]).await;
    assert!(location.contains("shared=1"), "{location}");
    let (_, location) =
        r.post_form("create_share_link", &staff, &page, &[("id", &id), ("scope", "campaign"), ("expires_days", "400")]).await;
    assert_eq!(refused_field(&location), "expires_days", "the field's error comes back: {location}");
    let (_, location) = r.post_form("create_share_link", &staff, &page, &[("id", &id), ("scope", "campaign"), ("password", "short")]).await;
    assert_eq!(refused_field(&location), "password", "{location}");
    let other = alone.id.to_string();
    let (_, location) =
        r.post_form("create_share_link", &staff, &format!("/campaigns/{other}"), &[("id", &other), ("scope", "group")]).await;
    assert_eq!(refused_field(&location), "scope", "no group to share: {location}");

    let body = r.call("share_links", &staff, &[("id", &id)]).await.text().await.unwrap();
    let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{body}");
    assert_eq!((rows[0]["group"].as_str(), rows[0]["has_password"].as_bool()), (Some("Malls"), Some(true)));
    assert!(rows[1]["expires_at"].is_string() && rows[1]["state"] == "active");
    let url = rows[1]["url"].as_str().unwrap();
    let path = &url[url.find("/s/").unwrap()..];
    assert_eq!(open(&r, path, "").await.0, StatusCode::OK);

    // Revoking a link through another campaign's page is refused; through its own, it ends.
    let link = rows[1]["id"].as_i64().unwrap().to_string();
    let res = r.call("revoke_share_link", &staff, &[("id", &other), ("link", &link)]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let (_, location) = r.post_form("revoke_share_link", &staff, &page, &[("id", &id), ("link", &link)]).await;
    assert!(location.contains("share_revoked=1"), "{location}");
    assert_eq!(open(&r, path, "").await.0, StatusCode::NOT_FOUND);
    assert_eq!(r.call("share_links", "", &[("id", &id)]).await.status(), StatusCode::UNAUTHORIZED, "the list wants a session");

    let actions = support::audit_actions(&r, "share_link.").await;
    assert_eq!(actions, ["share_link.create", "share_link.create", "share_link.revoke"]);
});
