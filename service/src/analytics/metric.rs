//! The numbers a chart can draw: their names in the contract and in both languages, their
//! look on every chart, and how to read them from a point or from totals.

use crate::chart;
use crate::chart::LOOKS;
use crate::series::{self, Totals};
use crate::{Lang, ServiceError};
use std::str::FromStr;

/// A number a chart can draw (docs/contract.md names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    Scans,
    NewFollowers,
    Unsubscribes,
    NetFollowers,
    UniqueScanners,
}

impl Metric {
    pub const ALL: [Metric; 5] = [Metric::Scans, Metric::NewFollowers, Metric::Unsubscribes, Metric::NetFollowers, Metric::UniqueScanners];
    /// What a campaign chart shows unless asked otherwise.
    pub const DEFAULT: [Metric; 3] = [Metric::Scans, Metric::NewFollowers, Metric::Unsubscribes];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Scans => "scans",
            Metric::NewFollowers => "new_followers",
            Metric::Unsubscribes => "unsubscribes",
            Metric::NetFollowers => "net_followers",
            Metric::UniqueScanners => "unique_scanners",
        }
    }

    /// The metric's name in `lang`: the pages' own word (`app/locales`, [`crate::msg::word`]).
    pub fn label(self, lang: Lang) -> &'static str {
        crate::msg::word(lang, self.locale_key())
    }

    /// The key of the metric's name in the interface's catalogs.
    pub fn locale_key(self) -> &'static str {
        match self {
            Metric::Scans => "metric_scans",
            Metric::NewFollowers => "metric_new_followers",
            Metric::Unsubscribes => "metric_unsubscribes",
            Metric::NetFollowers => "metric_net",
            Metric::UniqueScanners => "metric_unique",
        }
    }

    /// Each metric keeps its look on every chart.
    pub(super) fn look(self) -> chart::Look {
        LOOKS[self as usize]
    }

    pub fn of_point(self, p: &series::Point) -> i64 {
        match self {
            Metric::Scans => p.scans,
            Metric::NewFollowers => p.new_followers,
            Metric::Unsubscribes => p.unsubscribes,
            Metric::NetFollowers => p.net_followers,
            Metric::UniqueScanners => p.unique_scanners,
        }
    }

    pub fn of_totals(self, t: &Totals) -> i64 {
        match self {
            Metric::Scans => t.scans,
            Metric::NewFollowers => t.new_followers,
            Metric::Unsubscribes => t.unsubscribes,
            Metric::NetFollowers => t.net_followers,
            Metric::UniqueScanners => t.unique_scanners,
        }
    }

    /// Metrics named in `values` (each may hold several, comma-separated), in the canonical
    /// order, without repeats; the default set when none is named.
    pub fn parse_list<S: AsRef<str>>(values: &[S]) -> Result<Vec<Metric>, ServiceError> {
        let mut named = Vec::new();
        for part in values.iter().flat_map(|v| v.as_ref().split(',')).map(str::trim).filter(|p| !p.is_empty()) {
            named.push(part.parse::<Metric>()?);
        }
        if named.is_empty() {
            return Ok(Metric::DEFAULT.to_vec());
        }
        Ok(Metric::ALL.into_iter().filter(|m| named.contains(m)).collect())
    }
}

impl FromStr for Metric {
    type Err = ServiceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Metric::ALL
            .into_iter()
            .find(|m| m.as_str() == s.trim())
            .ok_or_else(|| ServiceError::invalid("metrics", crate::Msg::MetricUnknown { value: s.to_string() }))
    }
}
