//! Public image links (`/q/{token}.png`, `.svg`) over real HTTP, on SQLite and PostgreSQL,
//! against the WeChat simulator: turned on from the campaign page's server function, served
//! without a session with cache headers and ETags, following an automatic renewal, and dead at
//! once when regenerated, turned off or archived, with one and the same 404 for every dead
//! token.

mod support;

use base64::Engine;
use chrono::{Duration, SubsecRound, Utc};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use service::campaigns::CampaignInput;
use service::entity::{public_code_link, qr_code};
use service::renewal::{self, AutoRenewal};
use service::testing::TestDb;
use service::{AppState, Clock, dual_test};
use support::{Running, sandbox_account, start};

/// Every QR payload in a PNG.
fn decode_png(png: &[u8]) -> Vec<String> {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png).expect("a PNG").into_luma8();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(img.width() as usize, img.height() as usize, |x, y| {
        img.get_pixel(x as u32, y as u32).0[0]
    });
    prepared.detect_grids().into_iter().filter_map(|g| g.decode().ok().map(|(_, text)| text)).collect()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The public link's token as the campaign page shows it (None: off).
async fn shown_token(r: &Running, cookie: &str, id: i32) -> Option<String> {
    let res = r.call("public_link", cookie, &[("id", &id.to_string())]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let info = json(&res.text().await.unwrap());
    let png = info["png_url"].as_str()?.to_owned();
    let svg = info["svg_url"].as_str().unwrap().to_owned();
    assert_eq!(info["enabled"], true);
    let token = png.strip_prefix("http://127.0.0.1:3000/q/").and_then(|t| t.strip_suffix(".png")).unwrap_or_else(|| panic!("{png}"));
    assert_eq!(svg, format!("http://127.0.0.1:3000/q/{token}.svg"));
    Some(token.to_owned())
}

/// A public GET: no cookie, as an `<img>` on someone else's page asks.
async fn public_get(r: &Running, path: &str, etag: Option<&str>) -> reqwest::Response {
    let mut req = r.http.get(format!("{}{path}", r.base));
    if let Some(e) = etag {
        req = req.header(IF_NONE_MATCH, e);
    }
    req.send().await.unwrap()
}

/// Status, body and cache header of a dead link: every one must look the same.
async fn dead(r: &Running, path: &str) -> (StatusCode, String, String, String) {
    let res = public_get(r, path, None).await;
    let h = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let (cache, robots) = (h("cache-control"), h("x-robots-tag"));
    (res.status(), res.text().await.unwrap(), cache, robots)
}

async fn switch(r: &Running, cookie: &str, id: i32, action: &str) {
    let (status, location) =
        r.post_form("campaign_public_link", cookie, &format!("/campaigns/{id}"), &[("id", &id.to_string()), ("action", action)]).await;
    assert_eq!(status, StatusCode::FOUND, "{action}: {location}");
    assert!(location.starts_with(&format!("/campaigns/{id}?link_")), "{action}: {location}");
}

async fn current_code(st: &AppState, id: i32) -> qr_code::Model {
    qr_code::Entity::find()
        .filter(qr_code::Column::CampaignId.eq(id))
        .order_by_desc(qr_code::Column::Id)
        .one(&st.db)
        .await
        .unwrap()
        .expect("a code")
}

dual_test!(a_public_link_serves_the_current_code_until_revoked, |t: TestDb| async move {
    let r = start(t).await;
    let (_sim, account) = sandbox_account(&r).await;
    let clock = Clock::manual(Utc::now().trunc_subsecs(0));
    let st = AppState { clock: clock.clone(), ..r.state.clone() };
    let api = service::accounts::api_client(&st, &service::accounts::model(&st.db, account).await.unwrap()).unwrap();
    let input = CampaignInput {
        account_id: account,
        name: "Landing page".into(),
        kind: "temporary".into(),
        expire_days: Some(7),
        auto_renew: true,
        ..Default::default()
    };
    let c = service::campaigns::create(&st, api.as_ref(), input, None).await.unwrap();
    let staff = r.login("staff", "staff-password").await;
    assert_eq!(shown_token(&r, &staff, c.id).await, None, "off by default");
    let unknown = dead(&r, &format!("/q/{}.png", service::public_codes::new_token())).await;
    assert_eq!((unknown.0, unknown.1.as_str(), unknown.2.as_str()), (StatusCode::NOT_FOUND, "not found\n", "no-store"));
    assert_eq!(unknown.3, "noindex, nofollow");

    // On (JavaScript off: a form post and a redirect); the page shows the addresses.
    let page = |r: &Running, cookie: String, id: i32| {
        let (http, url) = (r.http.clone(), format!("{}/campaigns/{id}", r.base));
        async move { http.get(url).header("cookie", cookie).header("accept", "text/html").send().await.unwrap().text().await.unwrap() }
    };
    let html = page(&r, staff.clone(), c.id).await;
    assert!(html.contains("data-testid=\"public-link-on\"") && !html.contains("127.0.0.1:3000/q/"), "off: the page offers to turn it on");
    switch(&r, &staff, c.id, "on").await;
    let token = shown_token(&r, &staff, c.id).await.expect("on");
    let html = page(&r, staff.clone(), c.id).await;
    assert!(html.contains(&format!("/q/{token}.png")) && html.contains(&format!("/q/{token}.svg")), "on: the page shows both addresses");
    assert!(html.contains("data-testid=\"public-link-regenerate\"") && html.contains("data-testid=\"public-link-off\""));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&token).expect("URL-safe base64");
    assert_eq!(raw.len(), 24, "192 random bits");
    switch(&r, &staff, c.id, "on").await;
    assert_eq!(shown_token(&r, &staff, c.id).await.as_deref(), Some(token.as_str()), "on again keeps the address");
    // Stored as a hash and sealed, never in clear.
    let row = public_code_link::Entity::find_by_id(c.id).one(&r.t.db).await.unwrap().unwrap();
    assert_eq!(row.token_hash, service::public_codes::token_hash(&token));
    assert!(!row.token_hash.contains(&token) && !row.token_enc.contains(&token));

    // PNG without a session: the code, noindex, public for five minutes, an ETag; the global
    // security headers too.
    let first = current_code(&st, c.id).await;
    let png_path = format!("/q/{token}.png?size=258");
    let res = public_get(&r, &png_path, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "image/png");
    assert_eq!(res.headers()["x-robots-tag"], "noindex, nofollow");
    assert_eq!(res.headers()[CACHE_CONTROL], "public, max-age=300");
    assert_eq!(res.headers()["cross-origin-resource-policy"], "cross-origin");
    assert!(res.headers().contains_key("referrer-policy") && res.headers().contains_key("x-content-type-options"));
    let etag = res.headers()[ETAG].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10, "{etag}");
    assert_eq!(decode_png(&res.bytes().await.unwrap()), vec![first.url.clone()]);
    // A conditional GET with that ETag: 304, no body, the same validators.
    let res = public_get(&r, &png_path, Some(&etag)).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.headers()[ETAG], etag.as_str());
    assert_eq!(res.headers()[CACHE_CONTROL], "public, max-age=300");
    assert!(res.bytes().await.unwrap().is_empty());
    // Another size is another image.
    let other = public_get(&r, &format!("/q/{token}.png?size=430"), Some(&etag)).await;
    assert_eq!(other.status(), StatusCode::OK);
    assert_ne!(other.headers()[ETAG], etag.as_str());
    // SVG likewise.
    let res = public_get(&r, &format!("/q/{token}.svg"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("image/svg+xml"));
    assert_eq!(res.headers()["x-robots-tag"], "noindex, nofollow");
    assert_eq!(res.headers()[CACHE_CONTROL], "public, max-age=300");
    let svg_etag = res.headers()[ETAG].to_str().unwrap().to_owned();
    assert!(res.text().await.unwrap().contains("<svg"));
    assert_ne!(svg_etag, etag);
    assert_eq!(public_get(&r, &format!("/q/{token}.svg"), Some(&svg_etag)).await.status(), StatusCode::NOT_MODIFIED);
    // Bad size: 400, as on the signed-in routes; other names are dead links.
    assert_eq!(public_get(&r, &format!("/q/{token}.png?size=abc"), None).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(dead(&r, &format!("/q/{token}.gif")).await, unknown);
    assert_eq!(dead(&r, &format!("/q/{token}")).await, unknown);

    // Auto-renew replaces the code a day before it expires: the same address serves the new
    // ticket with a new ETag, so the old ETag no longer gets a 304.
    clock.advance(Duration::days(6));
    assert_eq!(renewal::renew_replacing(&st, api.as_ref(), c.id, Some(first.id)).await.unwrap(), AutoRenewal::Renewed);
    let second = current_code(&st, c.id).await;
    assert_ne!(second.url, first.url);
    let res = public_get(&r, &png_path, Some(&etag)).await;
    assert_eq!(res.status(), StatusCode::OK, "renewed: the old ETag is stale");
    let renewed_etag = res.headers()[ETAG].to_str().unwrap().to_owned();
    assert_ne!(renewed_etag, etag);
    assert_eq!(decode_png(&res.bytes().await.unwrap()), vec![second.url.clone()]);

    // Regenerate: the old address is dead at once, the new one works.
    switch(&r, &staff, c.id, "regenerate").await;
    let new_token = shown_token(&r, &staff, c.id).await.expect("still on");
    assert_ne!(new_token, token);
    assert_eq!(dead(&r, &png_path).await, unknown, "the old address answers as an unknown one");
    assert_eq!(public_get(&r, &format!("/q/{new_token}.png"), None).await.status(), StatusCode::OK);

    // Archived: dead until restored.
    let id = c.id.to_string();
    assert_eq!(r.post_form("campaign_lifecycle", &staff, "/", &[("id", &id), ("action", "archive")]).await.0, StatusCode::FOUND);
    assert_eq!(dead(&r, &format!("/q/{new_token}.png")).await, unknown);
    assert_eq!(dead(&r, &format!("/q/{new_token}.svg")).await, unknown);
    let refused = r.call("campaign_public_link", &staff, &[("id", &id), ("action", "regenerate")]).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "no new address for an archived campaign");
    assert_eq!(r.post_form("campaign_lifecycle", &staff, "/", &[("id", &id), ("action", "unarchive")]).await.0, StatusCode::FOUND);
    assert_eq!(public_get(&r, &format!("/q/{new_token}.png"), None).await.status(), StatusCode::OK);

    // Off: dead at once; on again is a new address.
    switch(&r, &staff, c.id, "off").await;
    assert_eq!(shown_token(&r, &staff, c.id).await, None);
    assert_eq!(dead(&r, &format!("/q/{new_token}.png")).await, unknown);
    switch(&r, &staff, c.id, "on").await;
    let third = shown_token(&r, &staff, c.id).await.unwrap();
    assert!(third != token && third != new_token);

    // Each change is in the audit log, without the token.
    let admin = r.login("admin", "admin-password").await;
    let log = r.call("audit_log", &admin, &[]).await.text().await.unwrap();
    for action in ["campaign.public_link_on", "campaign.public_link_regenerate", "campaign.public_link_off"] {
        assert!(log.contains(action), "{action} in {log}");
    }
    for t in [&token, &new_token, &third] {
        assert!(!log.contains(t.as_str()), "no token in the audit log");
    }

    // A key rotation re-seals the shown token; the address keeps working throughout.
    let new_keys = service::Keys::random();
    let report = service::rotate::rotate(&r.t.db, &r.state.keys, &new_keys, |_| Ok(())).await.unwrap();
    assert_eq!(report.links_resealed, 1);
    let shown = service::public_codes::get(&r.t.db, &new_keys, c.id).await.unwrap().unwrap();
    assert_eq!(shown.token.as_deref(), Some(third.as_str()));
    let unopened = service::public_codes::get(&r.t.db, &r.state.keys, c.id).await.unwrap().unwrap();
    assert_eq!(unopened.token, None, "under the old key the page offers to regenerate instead");
    assert_eq!(public_get(&r, &format!("/q/{third}.png"), None).await.status(), StatusCode::OK);
});

dual_test!(a_campaign_without_a_code_has_a_dead_link_and_tokens_are_not_derived_from_ids, |t: TestDb| async move {
    let r = start(t).await;
    let account = service::testing::account_row("wx00000000000000c1").insert(&r.t.db).await.unwrap();
    let mut tokens = Vec::new();
    for n in 0..3 {
        let c = service::testing::campaign_row(account.id, &format!("No code {n}"), &format!("{}", 900 + n)).insert(&r.t.db).await.unwrap();
        tokens.push((c.id, service::public_codes::enable(&r.state, c.id, None).await.unwrap()));
    }
    let unknown = dead(&r, &format!("/q/{}.png", service::public_codes::new_token())).await;
    for (id, token) in &tokens {
        assert_eq!(dead(&r, &format!("/q/{token}.png")).await, unknown, "campaign {id} has no code");
        assert_eq!(token.len(), 32);
    }
    // Consecutive ids, unrelated tokens: no shared prefix beyond chance, all distinct.
    let prefix = |a: &str, b: &str| a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    assert!(prefix(&tokens[0].1, &tokens[1].1) < 6 && prefix(&tokens[1].1, &tokens[2].1) < 6, "{tokens:?}");
    // A regenerated token for the same campaign is unrelated to the first.
    let again = service::public_codes::regenerate(&r.state, tokens[0].0, None).await.unwrap();
    assert_ne!(again, tokens[0].1);
    // Deleting a campaign takes its link along (the foreign key cascades).
    service::campaigns::delete(&r.state, tokens[1].0, None).await.unwrap();
    assert!(public_code_link::Entity::find_by_id(tokens[1].0).one(&r.t.db).await.unwrap().is_none());
    // Unknown campaigns: 404 from the service, before any token exists.
    assert!(matches!(service::public_codes::enable(&r.state, 99_999, None).await, Err(service::ServiceError::NotFound)));
});

dual_test!(only_signed_in_staff_change_a_public_link, |t: TestDb| async move {
    let r = start(t).await;
    let account = service::testing::account_row("wx00000000000000c2").insert(&r.t.db).await.unwrap();
    let c = service::testing::campaign_row(account.id, "Guarded", "77").insert(&r.t.db).await.unwrap();
    let id = c.id.to_string();
    for action in ["on", "off", "regenerate"] {
        let res = r.call("campaign_public_link", "", &[("id", &id), ("action", action)]).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{action} signed out");
        let res = r.call("campaign_public_link", "sb_session=made-up", &[("id", &id), ("action", action)]).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{action} with a made-up session");
    }
    assert_eq!(r.call("public_link", "", &[("id", &id)]).await.status(), StatusCode::UNAUTHORIZED);
    assert!(public_code_link::Entity::find_by_id(c.id).one(&r.t.db).await.unwrap().is_none(), "nothing was turned on");
    // Staff may (they edit campaigns); an unknown action is refused.
    let staff = r.login("staff", "staff-password").await;
    assert_eq!(r.call("campaign_public_link", &staff, &[("id", &id), ("action", "on")]).await.status(), StatusCode::OK);
    assert!(public_code_link::Entity::find_by_id(c.id).one(&r.t.db).await.unwrap().is_some());
    assert_eq!(r.call("campaign_public_link", &staff, &[("id", &id), ("action", "leak")]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.call("campaign_public_link", &staff, &[("id", "99999"), ("action", "on")]).await.status(), StatusCode::NOT_FOUND);
});
