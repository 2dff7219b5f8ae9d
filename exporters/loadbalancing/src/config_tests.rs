use std::time::Duration;

use tracegate_core::queue::Sizer;
use tracegate_core::testing::parse_config_messages;

use super::*;

fn parse(yaml: &str) -> Result<LoadBalancingConfig, Vec<String>> {
    parse_config_messages::<LoadBalancingConfig>(yaml)
}

#[test]
fn the_collectors_shape_reads_with_the_backend_settings_split_out() {
    let c = parse(
        r#"
routing_key: service
protocol:
  otlp:
    timeout: 1s
    tls: { insecure: true }
    compression: gzip
    headers: { x-scope: tier1 }
    sending_queue: { sizer: bytes, queue_size: 1000000 }
    retry_on_failure: { initial_interval: 100ms, max_interval: 1s }
resolver:
  static:
    hostnames: [sampler-1:4317, sampler-2]
"#,
    )
    .unwrap();
    assert_eq!(c.routing_key, RoutingKey::Service);
    let t = &c.protocol.otlp;
    assert!(t.exporter.tls.insecure);
    assert_eq!(t.exporter.headers.get("x-scope").map(String::as_str), Some("tier1"));
    assert_eq!(t.settings.timeout.get(), Duration::from_secs(1));
    assert_eq!((t.settings.sending_queue.sizer, t.settings.sending_queue.queue_size), (Sizer::Bytes, 1_000_000));
    assert_eq!(t.settings.retry_on_failure.initial_interval.get(), Duration::from_millis(100));
    assert_eq!(t.for_endpoint("h:1").endpoint, "h:1");
    assert_eq!(endpoint_with_port("sampler-2"), "sampler-2:4317");
    assert_eq!(endpoint_with_port("[::1]:4317"), "[::1]:4317");
}

#[test]
fn defaults_are_trace_id_routing_and_the_engines_backend_settings() {
    let c = parse("resolver: { static: { hostnames: [a:4317] } }").unwrap();
    assert_eq!(c.routing_key, RoutingKey::TraceId);
    assert_eq!(c.protocol.otlp.settings, ExporterSettings::default());
    assert_eq!(parse("routing_key: traceID\nresolver: { static: { hostnames: [a:4317] } }").unwrap().routing_key, RoutingKey::TraceId);
}

#[test]
fn dns_reads_the_port_as_a_number_or_the_collectors_string() {
    for port in ["4317", "\"4317\""] {
        let c = parse(&format!("resolver: {{ dns: {{ hostname: samplers.internal, port: {port}, interval: 2s }} }}")).unwrap();
        let dns = c.resolver.dns.unwrap();
        assert_eq!((dns.port, dns.interval.get(), dns.timeout.get()), (Some(4317), Duration::from_secs(2), Duration::from_secs(1)));
    }
    let err = parse("resolver: { dns: { hostname: h, port: \"http\" } }").unwrap_err();
    assert!(err[0].contains("port \"http\" is not a number"), "{err:?}");
}

#[test]
fn what_print_config_shows_reads_back_the_same() {
    let yaml = "protocol: { otlp: { tls: { insecure: true }, timeout: 2s } }\nresolver: { dns: { hostname: h } }";
    let c = parse(yaml).unwrap();
    let printed = serde_yaml_ng::to_string(&c).unwrap();
    assert!(!printed.contains("endpoint"), "{printed}");
    assert_eq!(parse(&printed).unwrap(), c, "{printed}");
}

#[test]
fn every_problem_is_reported_at_its_path() {
    let cases: &[(&str, &str)] = &[
        ("{}", "resolver: a resolver is required"),
        ("resolver: { static: { hostnames: [a:1] }, dns: { hostname: b } }", "resolver: set one resolver"),
        ("resolver: { static: { hostnames: [] } }", "resolver::static::hostnames: list at least one backend"),
        ("resolver: { static: { hostnames: [a:1, a:1] } }", "resolver::static::hostnames::1: \"a:1\" is listed twice"),
        ("resolver: { static: { hostnames: [\"a:99999\"] } }", "resolver::static::hostnames::0: invalid endpoint"),
        ("resolver: { dns: { hostname: \"\" } }", "resolver::dns::hostname: a hostname to resolve is required"),
        ("resolver: { dns: { hostname: h, interval: 0s } }", "resolver::dns::interval: must be greater than 0"),
        ("protocol: { otlp: { endpoint: x:1 } }\nresolver: { dns: { hostname: h } }", "protocol::otlp::endpoint: must not be set"),
        ("protocol: { otlp: { timeout: 0s } }\nresolver: { dns: { hostname: h } }", "protocol::otlp::timeout: must be greater than 0"),
        ("protocol: { otlp: { headers: { \"bad name\": v } } }\nresolver: { dns: { hostname: h } }", "protocol::otlp::headers::bad name"),
        ("routing_key: spanID\nresolver: { dns: { hostname: h } }", "routing_key: unknown variant `spanID`"),
        ("protocol: { otlp: { sending_queue: { sizer: pages } } }\nresolver: { dns: { hostname: h } }", "sending_queue::sizer: unknown variant `pages`"),
        ("protocol: { otlp: { tls: { insecure: maybe } } }\nresolver: { dns: { hostname: h } }", "tls::insecure"),
    ];
    for (yaml, expected) in cases {
        let problems = parse(yaml).unwrap_err();
        assert!(problems.iter().any(|p| p.contains(expected)), "{yaml}\n  expected {expected}\n  got {problems:?}");
    }
}
