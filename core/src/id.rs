//! Component identity: `type[/name]` ids and the four kinds of component.

use std::fmt;

/// The kind of a component, which decides where it may stand in a pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Receiver,
    Processor,
    Exporter,
    Extension,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Receiver,
        Kind::Processor,
        Kind::Exporter,
        Kind::Extension,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Receiver => "receiver",
            Kind::Processor => "processor",
            Kind::Exporter => "exporter",
            Kind::Extension => "extension",
        }
    }

    /// The top-level config section holding components of this kind.
    pub fn section(self) -> &'static str {
        match self {
            Kind::Receiver => "receivers",
            Kind::Processor => "processors",
            Kind::Exporter => "exporters",
            Kind::Extension => "extensions",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A component id as written in the config: `type` or `type/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    type_name: String,
    name: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IdError {
    #[error("id must not be empty")]
    Empty,
    #[error("id \"{0}\" has an empty type before '/'")]
    EmptyType(String),
    #[error("id \"{0}\" has an empty name after '/'")]
    EmptyName(String),
    #[error("id \"{0}\" may contain only letters, digits, '_', '-', '.' and one '/'")]
    BadChar(String),
}

impl ComponentId {
    pub fn new(type_name: impl Into<String>, name: Option<String>) -> Self {
        Self {
            type_name: type_name.into(),
            name,
        }
    }

    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        let (ty, name) = match s.split_once('/') {
            Some((ty, name)) => (ty, Some(name)),
            None => (s, None),
        };
        if ty.is_empty() {
            return Err(IdError::EmptyType(s.to_string()));
        }
        if name == Some("") {
            return Err(IdError::EmptyName(s.to_string()));
        }
        let ok = |part: &str| {
            part.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        if !ok(ty) || !name.is_none_or(ok) {
            return Err(IdError::BadChar(s.to_string()));
        }
        Ok(Self {
            type_name: ty.to_string(),
            name: name.map(str::to_string),
        })
    }

    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.type_name, n),
            None => f.write_str(&self.type_name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_and_name() {
        let id = ComponentId::parse("otlp/edge").unwrap();
        assert_eq!(id.type_name(), "otlp");
        assert_eq!(id.name(), Some("edge"));
        assert_eq!(id.to_string(), "otlp/edge");
        assert_eq!(ComponentId::parse("batch").unwrap().name(), None);
    }

    #[test]
    fn rejects_malformed_ids() {
        assert_eq!(ComponentId::parse(""), Err(IdError::Empty));
        assert!(matches!(
            ComponentId::parse("/x"),
            Err(IdError::EmptyType(_))
        ));
        assert!(matches!(
            ComponentId::parse("x/"),
            Err(IdError::EmptyName(_))
        ));
        assert!(matches!(
            ComponentId::parse("a b"),
            Err(IdError::BadChar(_))
        ));
        assert!(matches!(
            ComponentId::parse("a/b/c"),
            Err(IdError::BadChar(_))
        ));
    }
}
