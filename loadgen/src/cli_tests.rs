//! Flag parsing and the checks clap cannot do.

use super::*;

#[test]
fn durations_parse_like_go() {
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
    assert!(parse_duration("10 parsecs").is_err());
    assert!(parse_duration("").is_ok_and(|d| d.is_zero()));
    assert!(parse_duration("-3s").is_err());
}

#[test]
fn duration_and_total_spans_exclude_each_other() {
    let both = Args::try_parse_from(["x", "--duration", "1s", "--total-spans", "5"]);
    assert!(both.is_err());
}

fn config(args: &[&str]) -> Result<RunConfig, String> {
    let argv = std::iter::once("x").chain(args.iter().copied());
    Args::try_parse_from(argv)
        .map_err(|e| e.to_string())
        .and_then(Args::into_config)
}

#[test]
fn each_protocol_defaults_to_its_usual_port() {
    let endpoint = |p: &str| config(&["--protocol", p]).map(|c| c.endpoint);
    assert_eq!(endpoint("grpc").as_deref(), Ok("127.0.0.1:4317"));
    assert_eq!(endpoint("http").as_deref(), Ok("127.0.0.1:4318"));
    assert_eq!(
        endpoint("jaeger-udp-compact").as_deref(),
        Ok("127.0.0.1:6831")
    );
    assert_eq!(endpoint("jaeger-http").as_deref(), Ok("127.0.0.1:14268"));
    assert_eq!(endpoint("zipkin-json").as_deref(), Ok("127.0.0.1:9411"));
}

#[test]
fn udp_flags_are_checked() {
    assert!(config(&["--max-packet-size", "70000"]).is_err_and(|e| e.contains("65507")));
    assert!(config(&["--max-packet-size", "0"]).is_err());
    let gz = config(&["--protocol", "jaeger-udp-compact", "--compression", "gzip"]);
    assert!(gz.is_err_and(|e| e.contains("jaeger-udp-compact")));
    assert_eq!(config(&[]).map(|c| c.max_packet_size), Ok(65_000));
}

#[test]
fn shape_flags_are_checked() {
    let realistic = config(&["--shape", "realistic", "--seed", "7"]);
    assert_eq!(
        realistic.map(|c| (c.shape, c.services, c.seed)),
        Ok((Shape::Realistic, 50, 7))
    );
    let services = config(&["--shape", "realistic", "--services", "12"]);
    assert_eq!(services.map(|c| c.services), Ok(12));
    assert!(config(&["--services", "12"]).is_err_and(|e| e.contains("--shape realistic")));
    assert!(config(&["--shape", "realistic", "--services", "1"]).is_err());
    let padded = config(&["--shape", "realistic", "--span-size", "900"]);
    assert!(padded.is_err_and(|e| e.contains("--span-size")));
}

#[test]
fn default_run_is_thirty_seconds() {
    let cfg = Args::try_parse_from(["x"])
        .map_err(|e| e.to_string())
        .and_then(Args::into_config);
    assert_eq!(
        cfg.map(|c| c.stop),
        Ok(StopAfter::Duration(Duration::from_secs(30)))
    );
}
