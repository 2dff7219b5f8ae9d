//! `--metrics-url`: what the gateway itself counted during the run.
//!
//! UDP senders get no answer, so "sent" only means "handed to the kernel"; whether the spans
//! arrived is for the gateway to say. Its Prometheus endpoint is scraped before the run and
//! again after it (once the counters stop moving: datagrams may still sit in socket buffers
//! and the receiver's queue), and the difference is reported: spans accepted and refused by
//! receivers and packets dropped before decoding, by reason. Counters are summed over every
//! receiver, so run the gateway for the benchmark alone.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::sender::error_chain;

const ACCEPTED: &str = "tracegate_receiver_accepted_spans";
const REFUSED: &str = "tracegate_receiver_refused_spans";
const DROPPED: &str = "tracegate_receiver_dropped_packets";

/// How long to wait for the gateway's counters to stop moving after the last send.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);
const SETTLE_POLL: Duration = Duration::from_millis(300);

/// The gateway's receiver counters (or their growth over a run).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayCounts {
    pub accepted_spans: u64,
    pub refused_spans: u64,
    /// `tracegate_receiver_dropped_packets` by its `reason` label.
    pub dropped_packets: BTreeMap<String, u64>,
}

impl GatewayCounts {
    pub fn dropped_total(&self) -> u64 {
        self.dropped_packets.values().sum()
    }

    /// Growth since `before`; a counter that went down means the gateway restarted, and then
    /// the new value is the growth.
    pub fn since(&self, before: &GatewayCounts) -> GatewayCounts {
        let delta = |now: u64, then: u64| if now >= then { now - then } else { now };
        GatewayCounts {
            accepted_spans: delta(self.accepted_spans, before.accepted_spans),
            refused_spans: delta(self.refused_spans, before.refused_spans),
            dropped_packets: self
                .dropped_packets
                .iter()
                .map(|(reason, &n)| {
                    (
                        reason.clone(),
                        delta(n, before.dropped_packets.get(reason).copied().unwrap_or(0)),
                    )
                })
                .collect(),
        }
    }
}

/// Sums the receiver families out of a Prometheus text exposition.
pub fn parse(text: &str) -> GatewayCounts {
    let mut counts = GatewayCounts::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, rest) = line.split_at(line.find(['{', ' ']).unwrap_or(line.len()));
        let (labels, value) = match rest.strip_prefix('{').and_then(|r| r.split_once('}')) {
            Some((labels, value)) => (labels, value),
            None => ("", rest),
        };
        let Some(value) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        let value = value.max(0.0) as u64;
        match name {
            ACCEPTED => counts.accepted_spans += value,
            REFUSED => counts.refused_spans += value,
            DROPPED => {
                *counts
                    .dropped_packets
                    .entry(label(labels, "reason").unwrap_or("unknown").to_owned())
                    .or_default() += value
            }
            _ => {}
        }
    }
    counts
}

fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let len = labels[start..].find('"')?;
    Some(&labels[start..start + len])
}

pub struct Scraper {
    client: Client<HttpConnector, Empty<Bytes>>,
    uri: http::Uri,
}

impl Scraper {
    pub fn new(url: &str) -> Result<Self, String> {
        let with_scheme = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        let uri = with_scheme
            .parse()
            .map_err(|e| format!("invalid --metrics-url {url:?}: {e}"))?;
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            uri,
        })
    }

    pub async fn scrape(&self) -> Result<GatewayCounts, String> {
        let fail = |e: String| format!("cannot scrape {}: {e}", self.uri);
        let resp = tokio::time::timeout(Duration::from_secs(5), self.client.get(self.uri.clone()))
            .await
            .map_err(|_| fail("no answer within 5s".into()))?
            .map_err(|e| fail(error_chain(&e)))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| fail(error_chain(&e)))?
            .to_bytes();
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}")));
        }
        Ok(parse(&String::from_utf8_lossy(&body)))
    }

    /// Scrapes until two scrapes in a row agree (the gateway has finished with what was sent),
    /// or [`SETTLE_LIMIT`] passes, and returns the growth since `before`.
    pub async fn settle(&self, before: &GatewayCounts) -> Result<GatewayCounts, String> {
        let start = Instant::now();
        let mut last = self.scrape().await?;
        while start.elapsed() < SETTLE_LIMIT {
            tokio::time::sleep(SETTLE_POLL).await;
            let now = self.scrape().await?;
            if now == last {
                break;
            }
            last = now;
        }
        Ok(last.since(before))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP tracegate_receiver_accepted_spans Spans a receiver pushed into the pipeline.
# TYPE tracegate_receiver_accepted_spans counter
tracegate_receiver_accepted_spans{receiver="jaeger",transport="udp_thrift_compact"} 5000
tracegate_receiver_accepted_spans{receiver="otlp",transport="grpc"} 250
tracegate_receiver_refused_spans{receiver="jaeger",transport="udp_thrift_compact"} 7
tracegate_receiver_dropped_packets{reason="queue_full",receiver="jaeger",transport="udp_thrift_compact"} 3
tracegate_receiver_dropped_packets{reason="too_large",receiver="jaeger",transport="udp_thrift_compact"} 1
tracegate_receiver_dropped_packets{reason="queue_full",receiver="jaeger",transport="udp_thrift_binary"} 2
tracegate_exporter_sent_spans{exporter="nop"} 5250
"#;

    #[test]
    fn receiver_counters_are_summed_and_drops_kept_by_reason() {
        let c = parse(TEXT);
        assert_eq!((c.accepted_spans, c.refused_spans), (5250, 7));
        assert_eq!(c.dropped_packets.get("queue_full"), Some(&5));
        assert_eq!(c.dropped_packets.get("too_large"), Some(&1));
        assert_eq!(c.dropped_total(), 6);
    }

    #[test]
    fn growth_is_measured_from_before_the_run() {
        let before = parse("tracegate_receiver_accepted_spans{receiver=\"a\"} 100\n");
        let delta = parse(TEXT).since(&before);
        assert_eq!(delta.accepted_spans, 5150);
        assert_eq!(delta.dropped_packets.get("queue_full"), Some(&5));
        assert_eq!(parse("").since(&before).accepted_spans, 0);
    }
}
