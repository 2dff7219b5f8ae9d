//! The topic name rule the exporter (where it writes) and the receiver (what it reads) both
//! check at config time, so a name Kafka would refuse is a config error on either side.

/// Kafka's topic name rule: 1-249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("is required".into());
    }
    if topic.len() > 249 || topic == "." || topic == ".." {
        return Err(format!("\"{topic}\" is not a valid Kafka topic name"));
    }
    if let Some(c) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "\"{topic}\": {c:?} is not allowed in a Kafka topic name (letters, digits, . _ -)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_rule() {
        assert!(check_topic("jaeger-spans").is_ok());
        assert_eq!(check_topic(""), Err("is required".into()));
        assert!(check_topic("..").is_err());
        assert!(check_topic(&"a".repeat(250)).is_err());
        assert!(check_topic("a b").unwrap_err().contains("' ' is not allowed"));
    }
}
