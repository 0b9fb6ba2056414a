//! The operator's dashboard and alert rules (docs/ops/) use only metrics the server serves:
//! every metric they name is in docs/contract.md's "Metrics" table, and the routes and
//! callback tests check that table's series on a real `/metrics`.

use std::collections::BTreeSet;
use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The metric names in `text`: words starting `sceneboard_` or `http_`, a histogram's
/// `_bucket`, `_sum` and `_count` series named by their histogram.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if word.starts_with("sceneboard_") || word.starts_with("http_") {
            let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| word.strip_suffix(s)).unwrap_or(&word);
            names.insert(base.to_owned());
        }
        word.clear();
    }
    names
}

/// The series the contract's "Metrics" table lists.
fn contract_metrics() -> BTreeSet<String> {
    let contract = read("docs/contract.md");
    let section = contract.split("\n## Metrics").nth(1).expect("a Metrics section");
    section
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next().map(str::to_owned))
        .collect()
}

#[test]
fn dashboard_and_alerts_use_served_metrics_only() {
    let served = contract_metrics();
    assert!(served.contains("sceneboard_callback_events_total") && served.contains("sceneboard_jobs"), "{served:?}");
    let dashboard: serde_json::Value = serde_json::from_str(&read("docs/ops/grafana-dashboard.json")).expect("the dashboard is JSON");
    let exprs: Vec<&str> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().expect("each panel has targets").iter())
        .map(|t| t["expr"].as_str().expect("each target has an expression"))
        .collect();
    assert!(exprs.len() >= 8, "{exprs:?}");
    let alerts = read("docs/ops/alerts.yml");
    assert!(alerts.matches("- alert: ").count() >= 5);
    for (file, used) in [("grafana-dashboard.json", metric_names(&exprs.join("\n"))), ("alerts.yml", metric_names(&alerts))] {
        assert!(!used.is_empty(), "{file} names no metric");
        let unknown: Vec<_> = used.difference(&served).collect();
        assert!(unknown.is_empty(), "docs/ops/{file} uses metrics the server does not serve: {unknown:?}");
    }
}

#[test]
fn names_are_read_as_prometheus_does() {
    let names = metric_names(r#"histogram_quantile(0.99, rate(http_request_duration_seconds_bucket{route="/x"}[5m])) + sceneboard_jobs"#);
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["http_request_duration_seconds", "sceneboard_jobs"]);
}
