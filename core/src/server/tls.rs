//! TLS for every TCP listener of a [`ServerSet`](super::ServerSet): the rustls server config
//! built from a [`TlsServerConfig`], the handshake, and the reload of certificate files.
//!
//! The config is built once at start (a missing file, a key that does not match its
//! certificate, or a bad client CA fails start with the path) and kept behind a lock that
//! each handshake reads. With `reload_interval`, the accept loop calls [`TlsAcceptorSource::reload`]
//! on that period: the files are read again and, when their bytes changed, a new config is
//! built and swapped in for the next handshakes; connections already open keep theirs. A
//! reload that fails (a file half written, a key that does not match yet) is logged and the
//! last good config stays, so rotating certificate and key as two writes is safe.
//!
//! rustls with the `ring` provider, named explicitly rather than through the process default,
//! so no other crate's choice of provider can change or break it. ALPN offers `h2` (and
//! `http/1.1` on HTTP ports): gRPC clients require `h2` to be negotiated.

use std::io;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::{TlsServerConfig, TlsVersion};

/// How long a client gets to finish its handshake; one that stalls is closed, so it holds a
/// connection task for no longer than this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often `client_ca_file_reload` checks the CA file when no `reload_interval` is set.
const CLIENT_CA_POLL: Duration = Duration::from_secs(10);

/// Why a TLS config could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: String,
        source: io::Error,
    },
    #[error("{what} {origin} holds no PEM certificate")]
    NoCertificate { what: &'static str, origin: String },
    #[error("{what} {origin} is not valid PEM: {reason}")]
    BadPem {
        what: &'static str,
        origin: String,
        reason: String,
    },
    #[error("key {origin} holds no private key (PKCS#8, PKCS#1 or SEC1 PEM): {reason}")]
    BadKey { origin: String, reason: String },
    #[error("client_ca_file {path}: {reason}")]
    ClientCa { path: String, reason: String },
    #[error("the certificate and key cannot serve TLS: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("{0}")]
    Config(String),
}

/// The bytes a TLS config is built from, kept to see whether a reload changed anything.
#[derive(Clone, PartialEq, Eq)]
struct Material {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

/// The current TLS acceptor of one listener and what is needed to rebuild it.
pub(crate) struct TlsAcceptorSource {
    config: TlsServerConfig,
    alpn: Vec<Vec<u8>>,
    current: RwLock<(Material, TlsAcceptor)>,
}

impl TlsAcceptorSource {
    /// Reads the files and builds the config; any problem is an error naming the file.
    pub(crate) fn load(config: &TlsServerConfig, alpn: Vec<Vec<u8>>) -> Result<Self, TlsError> {
        let material = read_material(config, None)?;
        let acceptor = build(config, &material, &alpn)?;
        Ok(Self {
            config: config.clone(),
            alpn,
            current: RwLock::new((material, acceptor)),
        })
    }

    /// How often to call [`reload`](Self::reload); `None` when nothing is reloaded.
    pub(crate) fn reload_period(&self) -> Option<Duration> {
        let interval = self.config.reload_interval.get();
        if !interval.is_zero() {
            Some(interval)
        } else if self.config.client_ca_file_reload && !self.config.client_ca_file.is_empty() {
            Some(CLIENT_CA_POLL)
        } else {
            None
        }
    }

    /// Reads the files again; swaps in a new config when they changed. `Ok(true)` when it did.
    pub(crate) fn reload(&self) -> Result<bool, TlsError> {
        let previous = self.current_material();
        let keep_ca = (!self.config.client_ca_file_reload).then(|| previous.client_ca.clone()).flatten();
        let mut material = read_material(&self.config, keep_ca)?;
        if self.config.reload_interval.is_zero() {
            // Only the client CA is reloaded; the certificate stays as it was loaded.
            material.cert = previous.cert.clone();
            material.key = previous.key.clone();
        }
        if material == previous {
            return Ok(false);
        }
        let acceptor = build(&self.config, &material, &self.alpn)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (material, acceptor);
        Ok(true)
    }

    fn current_material(&self) -> Material {
        self.current.read().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// Runs the handshake on `stream` with the current config, for at most the handshake
    /// timeout.
    pub(crate) async fn accept(&self, stream: TcpStream) -> io::Result<TlsStream<TcpStream>> {
        let acceptor = self.current.read().unwrap_or_else(|p| p.into_inner()).1.clone();
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(done) => done,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")),
        }
    }
}

/// Reads certificate, key and client CA (or reuses `client_ca` when given).
fn read_material(config: &TlsServerConfig, client_ca: Option<Vec<u8>>) -> Result<Material, TlsError> {
    let read = |what: &'static str, file: &str, pem: &str| -> Result<Vec<u8>, TlsError> {
        if file.is_empty() {
            return Ok(pem.as_bytes().to_vec());
        }
        std::fs::read(file).map_err(|source| TlsError::Read {
            what,
            path: file.to_string(),
            source,
        })
    };
    let client_ca = match (client_ca, config.client_ca_file.as_str()) {
        (Some(kept), _) => Some(kept),
        (None, "") => None,
        (None, path) => Some(read("client_ca_file", path, "")?),
    };
    Ok(Material {
        cert: read("cert_file", &config.cert_file, &config.cert_pem)?,
        key: read("key_file", &config.key_file, &config.key_pem)?,
        client_ca,
    })
}

/// Where a PEM came from, for errors: the file, or "(inline)".
pub(crate) fn origin(file: &str) -> String {
    if file.is_empty() {
        "(inline PEM)".to_string()
    } else {
        file.to_string()
    }
}

pub(crate) fn certificates(pem: &[u8], what: &'static str, file: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem {
            what,
            origin: origin(file),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            what,
            origin: origin(file),
        });
    }
    Ok(certs)
}

fn build(config: &TlsServerConfig, material: &Material, alpn: &[Vec<u8>]) -> Result<TlsAcceptor, TlsError> {
    let provider = Arc::new(provider(config));
    let (min, max) = config.versions().map_err(TlsError::Config)?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::V1_2, &rustls::version::TLS12),
        (TlsVersion::V1_3, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (min..=max).contains(v))
    .map(|(_, v)| v)
    .collect();
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(&versions)?;
    let builder = match &material.client_ca {
        Some(pem) => {
            let path = config.client_ca_file.clone();
            let mut roots = RootCertStore::empty();
            for cert in certificates(pem, "client_ca_file", &path)? {
                roots.add(cert).map_err(|e| TlsError::ClientCa {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::ClientCa {
                    path,
                    reason: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let certs = certificates(&material.cert, "cert_file", &config.cert_file)?;
    let key = PrivateKeyDer::from_pem_slice(&material.key).map_err(|e| TlsError::BadKey {
        origin: origin(&config.key_file),
        reason: e.to_string(),
    })?;
    let mut server = builder.with_single_cert(certs, key)?;
    server.alpn_protocols = alpn.to_vec();
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// ring's provider, its TLS 1.2 suites narrowed to `cipher_suites` when that is set.
fn provider(config: &TlsServerConfig) -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    if !config.cipher_suites.is_empty() {
        provider.cipher_suites.retain(|suite| match suite {
            SupportedCipherSuite::Tls13(_) => true,
            SupportedCipherSuite::Tls12(_) => suite
                .suite()
                .as_str()
                .is_some_and(|name| config.cipher_suites.iter().any(|c| c == name)),
        });
    }
    provider
}
