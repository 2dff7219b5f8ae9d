//! The rustls client config every component that dials out uses, built from a
//! [`TlsClientConfig`]: trusted roots (the `ca_file` or the system's), the client certificate
//! for mTLS, the versions, and the two ways to relax the server check the Collector offers
//! (`server_name_override`, `insecure_skip_verify`).
//!
//! One builder for OTLP gRPC, OTLP HTTP and Elasticsearch, so a `tls:` section means the same
//! on each. rustls with the `ring` provider named explicitly, as on the server side.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{TlsClientConfig, TlsVersion};
use crate::server::tls::{certificates, origin};
pub use crate::server::TlsError;

/// The rustls config for `config`; `None` when `insecure` asks for plain text. Reads the
/// files named in the config. ALPN is left empty: the HTTP client sets what it speaks.
pub fn client_config(config: &TlsClientConfig) -> Result<Option<ClientConfig>, TlsError> {
    if config.insecure {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (min, max) = config.versions().map_err(TlsError::Config)?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::V1_2, &rustls::version::TLS12),
        (TlsVersion::V1_3, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (min..=max).contains(v))
    .map(|(_, v)| v)
    .collect();
    let builder = ClientConfig::builder_with_provider(provider.clone()).with_protocol_versions(&versions)?;
    let builder = if config.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)))
    } else {
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(config)?), provider)
            .build()
            .map_err(|e| TlsError::Config(format!("cannot check server certificates: {e}")))?;
        if config.server_name_override.is_empty() {
            builder.with_webpki_verifier(verifier)
        } else {
            // Checked here rather than only through SNI, so every client (reqwest included,
            // which has no such setting) checks the overriding name.
            let name = server_name(config, "")?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(OverrideName { inner: verifier, name }))
        }
    };
    let client = match client_identity(config)? {
        Some((certs, key)) => builder.with_client_auth_cert(certs, key)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Some(client))
}

/// The server name to check and send as SNI: `server_name_override`, else the endpoint's host.
pub fn server_name(config: &TlsClientConfig, host: &str) -> Result<ServerName<'static>, TlsError> {
    let name = if config.server_name_override.is_empty() {
        host.trim_start_matches('[').trim_end_matches(']')
    } else {
        config.server_name_override.as_str()
    };
    ServerName::try_from(name.to_string())
        .map_err(|_| TlsError::Config(format!("\"{name}\" is not a valid server name for TLS")))
}

fn read(what: &'static str, file: &str, pem: &str) -> Result<Vec<u8>, TlsError> {
    if file.is_empty() {
        return Ok(pem.as_bytes().to_vec());
    }
    std::fs::read(file).map_err(|source| TlsError::Read {
        what,
        path: file.to_string(),
        source,
    })
}

fn roots(config: &TlsClientConfig) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let given = !config.ca_file.is_empty() || !config.ca_pem.is_empty();
    if given {
        let pem = read("ca_file", &config.ca_file, &config.ca_pem)?;
        for cert in certificates(&pem, "ca_file", &config.ca_file)? {
            roots.add(cert).map_err(|e| TlsError::BadPem {
                what: "ca_file",
                origin: origin(&config.ca_file),
                reason: e.to_string(),
            })?;
        }
    }
    if !given || config.include_system_ca_certs_pool {
        // Unreadable system certificates are skipped, as Go's system pool skips them.
        let system = rustls_native_certs::load_native_certs();
        for error in &system.errors {
            tracing::debug!(error = %error, "a system CA certificate could not be read");
        }
        let (added, _ignored) = roots.add_parsable_certificates(system.certs);
        if added == 0 && !given {
            return Err(TlsError::Config(
                "no trusted CA: the system has no CA certificates; set tls.ca_file".into(),
            ));
        }
    }
    Ok(roots)
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn client_identity(config: &TlsClientConfig) -> Result<Option<Identity>, TlsError> {
    if config.cert_file.is_empty() && config.cert_pem.is_empty() {
        return Ok(None);
    }
    let cert = read("cert_file", &config.cert_file, &config.cert_pem)?;
    let key = read("key_file", &config.key_file, &config.key_pem)?;
    let certs = certificates(&cert, "cert_file", &config.cert_file)?;
    let key = PrivateKeyDer::from_pem_slice(&key).map_err(|e| TlsError::BadKey {
        origin: origin(&config.key_file),
        reason: e.to_string(),
    })?;
    Ok(Some((certs, key)))
}

/// `insecure_skip_verify`: any certificate is accepted, but the handshake signatures are
/// still checked (so the session is at least bound to the certificate shown).
#[derive(Debug)]
struct AcceptAnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `server_name_override`: the usual checks, against the configured name instead of the host
/// dialled.
#[derive(Debug)]
struct OverrideName {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for OverrideName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
