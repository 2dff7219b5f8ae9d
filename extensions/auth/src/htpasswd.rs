//! htpasswd files as Apache's `htpasswd` writes them, and checking a password against them.
//!
//! Entries accepted: bcrypt (`$2y$`, `$2a$`, `$2b$`; `htpasswd -B`), SHA-1 (`{SHA}`;
//! `htpasswd -s`) and salted SHA-1 (`{SSHA}`, as LDAP tools write it), and plain text, which
//! the Collector's own example uses for `inline: ${USER}:${PASSWORD}`. Apache's default MD5
//! (`$apr1$`) and the crypt(3) forms (`$1$`, `$5$`, `$6$`) are refused when the file is read,
//! with the line number and a way out (`htpasswd -B`), rather than read as plain text, which
//! would make the hash itself the password. Errors never quote a hash or a password.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// One user's stored password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredPassword {
    /// A bcrypt hash, checked by the `bcrypt` crate.
    Bcrypt(String),
    /// SHA-1 of the password.
    Sha1([u8; 20]),
    /// SHA-1 of password + salt, then the salt.
    SaltedSha1 { digest: [u8; 20], salt: Vec<u8> },
    /// The password itself.
    Plain(String),
}

impl StoredPassword {
    /// True when checking needs bcrypt's deliberate slowness (run it off the async threads).
    pub fn is_slow(&self) -> bool {
        matches!(self, StoredPassword::Bcrypt(_))
    }

    /// Whether `password` is this one.
    pub fn matches(&self, password: &str) -> bool {
        match self {
            StoredPassword::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            StoredPassword::Sha1(digest) => Sha1::digest(password.as_bytes()).as_slice().ct_eq(digest).into(),
            StoredPassword::SaltedSha1 { digest, salt } => {
                let mut hasher = Sha1::new();
                hasher.update(password.as_bytes());
                hasher.update(salt);
                hasher.finalize().as_slice().ct_eq(digest).into()
            }
            StoredPassword::Plain(stored) => stored.as_bytes().ct_eq(password.as_bytes()).into(),
        }
    }
}

/// Why an htpasswd text was not read; `source` names the file or `inline`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HtpasswdError {
    #[error("{origin}, line {line}: expected user:password-hash")]
    Malformed { origin: String, line: usize },
    #[error("{origin}, line {line}: {scheme} entries are not supported; re-create the entry with `htpasswd -B` (bcrypt) or `htpasswd -s` (SHA)")]
    Unsupported { origin: String, line: usize, scheme: &'static str },
    #[error("{origin}, line {line}: a {scheme} entry that cannot be read (bad base64 or length)")]
    BadDigest { origin: String, line: usize, scheme: &'static str },
    #[error("cannot read htpasswd file {path}: {error}")]
    Read { path: String, error: String },
}

/// Users and their stored passwords.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Htpasswd {
    users: HashMap<String, StoredPassword>,
}

impl Htpasswd {
    /// Adds every entry of `text` (an htpasswd file's content), replacing users already known:
    /// read the file first and `inline` second, and inline wins, as in the Collector.
    pub fn add(&mut self, text: &str, source: &str) -> Result<(), HtpasswdError> {
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(HtpasswdError::Malformed { origin: source.to_string(), line: line_no });
            };
            if user.is_empty() {
                return Err(HtpasswdError::Malformed { origin: source.to_string(), line: line_no });
            }
            let stored = parse_entry(hash).map_err(|e| e.at(source, line_no))?;
            self.users.insert(user.to_string(), stored);
        }
        Ok(())
    }

    /// Reads the file at `path` into the set.
    pub fn add_file(&mut self, path: &str) -> Result<(), HtpasswdError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| HtpasswdError::Read { path: path.to_string(), error: e.to_string() })?;
        self.add(&text, path)
    }

    pub fn user(&self, name: &str) -> Option<&StoredPassword> {
        self.users.get(name)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

enum EntryError {
    Unsupported(&'static str),
    BadDigest(&'static str),
}

impl EntryError {
    fn at(self, source: &str, line: usize) -> HtpasswdError {
        let origin = source.to_string();
        match self {
            EntryError::Unsupported(scheme) => HtpasswdError::Unsupported { origin, line, scheme },
            EntryError::BadDigest(scheme) => HtpasswdError::BadDigest { origin, line, scheme },
        }
    }
}

fn parse_entry(hash: &str) -> Result<StoredPassword, EntryError> {
    if ["$2y$", "$2a$", "$2b$", "$2x$"].iter().any(|p| hash.starts_with(p)) {
        // bcrypt::verify rejects a malformed hash; check its shape here so the mistake shows
        // at start, not as every login failing.
        if hash.len() != 60 {
            return Err(EntryError::BadDigest("bcrypt"));
        }
        return Ok(StoredPassword::Bcrypt(hash.to_string()));
    }
    if let Some(b64) = hash.strip_prefix("{SHA}") {
        let bytes = STANDARD.decode(b64).map_err(|_| EntryError::BadDigest("{SHA}"))?;
        let digest: [u8; 20] = bytes.try_into().map_err(|_| EntryError::BadDigest("{SHA}"))?;
        return Ok(StoredPassword::Sha1(digest));
    }
    if let Some(b64) = hash.strip_prefix("{SSHA}") {
        let bytes = STANDARD.decode(b64).map_err(|_| EntryError::BadDigest("{SSHA}"))?;
        if bytes.len() <= 20 {
            return Err(EntryError::BadDigest("{SSHA}"));
        }
        let (digest, salt) = bytes.split_at(20);
        let digest: [u8; 20] = digest.try_into().map_err(|_| EntryError::BadDigest("{SSHA}"))?;
        return Ok(StoredPassword::SaltedSha1 { digest, salt: salt.to_vec() });
    }
    for (prefix, scheme) in [("$apr1$", "MD5 ($apr1$)"), ("$1$", "MD5-crypt ($1$)"), ("$5$", "SHA-256-crypt ($5$)"), ("$6$", "SHA-512-crypt ($6$)")] {
        if hash.starts_with(prefix) {
            return Err(EntryError::Unsupported(scheme));
        }
    }
    Ok(StoredPassword::Plain(hash.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Written by Apache's htpasswd 2.4: `htpasswd -nbB alice wonderland` (cost 5) and
    // `htpasswd -nbs bob builder`.
    const APACHE: &str = "alice:$2y$05$3/vzBVH/5qtn62RZyNItBe2cndpdq2mEvCcF.Yw1mOcWVx2Hg8tLi\n\
                          bob:{SHA}9SMYoF5RilWWASry7TjeaKwmpGg=\n";

    fn parsed(text: &str) -> Htpasswd {
        let mut h = Htpasswd::default();
        h.add(text, "inline").unwrap();
        h
    }

    #[test]
    fn bcrypt_and_sha_entries_check_their_passwords() {
        let h = parsed(APACHE);
        assert_eq!(h.len(), 2);
        let alice = h.user("alice").unwrap();
        assert!(alice.is_slow());
        assert!(alice.matches("wonderland"));
        assert!(!alice.matches("Wonderland"));
        let bob = h.user("bob").unwrap();
        assert!(bob.matches("builder"));
        assert!(!bob.matches("builder "));
        assert!(h.user("carol").is_none());
    }

    #[test]
    fn bcrypt_variants_salted_sha_and_plain_text_are_read() {
        let hash_2b = bcrypt::hash_with_result("pw", 4).unwrap().format_for_version(bcrypt::Version::TwoB);
        let mut salted = Sha1::new();
        salted.update(b"pw");
        salted.update(b"salt");
        let mut ssha = salted.finalize().to_vec();
        ssha.extend_from_slice(b"salt");
        let text = format!(
            "# a comment\n\nb:{hash_2b}\r\ns:{{SSHA}}{}\np:pw\n",
            STANDARD.encode(ssha)
        );
        let h = parsed(&text);
        for user in ["b", "s", "p"] {
            assert!(h.user(user).unwrap().matches("pw"), "{user}");
            assert!(!h.user(user).unwrap().matches("pW"), "{user}");
        }
    }

    #[test]
    fn inline_entries_replace_the_files() {
        let mut h = parsed(APACHE);
        h.add("bob:plain-now", "inline").unwrap();
        assert!(h.user("bob").unwrap().matches("plain-now"));
        assert!(!h.user("bob").unwrap().matches("builder"));
    }

    #[test]
    fn unreadable_entries_name_their_line_and_never_the_hash() {
        let mut h = Htpasswd::default();
        let md5 = h.add("ok:pw\nold:$apr1$ab$0123456789abcdefghijkl\n", "users.htpasswd").unwrap_err();
        assert_eq!(md5, HtpasswdError::Unsupported { origin: "users.htpasswd".into(), line: 2, scheme: "MD5 ($apr1$)" });
        assert!(md5.to_string().contains("htpasswd -B"), "{md5}");
        let sha = h.add("x:{SHA}not-base64!", "inline").unwrap_err();
        assert_eq!(sha.to_string(), "inline, line 1: a {SHA} entry that cannot be read (bad base64 or length)");
        let short = h.add("x:$2y$05$short", "inline").unwrap_err();
        assert!(!short.to_string().contains("short"), "{short}");
        assert!(matches!(h.add("no colon here", "inline"), Err(HtpasswdError::Malformed { line: 1, .. })));
        assert!(matches!(h.add(":pw", "inline"), Err(HtpasswdError::Malformed { .. })));
        let missing = h.add_file("/nonexistent/htpasswd").unwrap_err();
        assert!(missing.to_string().starts_with("cannot read htpasswd file /nonexistent/htpasswd"), "{missing}");
    }
}
