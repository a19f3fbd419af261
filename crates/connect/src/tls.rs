//! TLS settings in one place: the options every source takes, and the
//! rustls client configuration they make (ring; system roots plus
//! `ca_file`). Sources flatten [`TlsOptions`] into their own options, so a
//! pipeline file writes `ca_file:` next to `url:` for every source.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use netpipe_core::BuildContext;
use netpipe_core::config::OptionError;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use schemars::JsonSchema;
use serde::Deserialize;
use tracing::warn;

/// TLS options of a source that connects to a server.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct TlsOptions {
    /// PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (labs only; logged as a warning).
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// PEM client certificate (chain) for servers that ask for one (mutual TLS); needs `client_key`.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// The name the server's certificate must carry, when it is not the URL's host (an address, a proxy).
    #[serde(default)]
    pub server_name: Option<String>,
}

impl TlsOptions {
    /// The rustls configuration these options make; an error names the
    /// option at fault. Logs nothing: see [`TlsOptions::warn_if_insecure`].
    pub fn client_config(
        &self,
        cx: &BuildContext,
    ) -> Result<Arc<rustls::ClientConfig>, OptionError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| OptionError::new("", format!("TLS: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = if self.insecure_skip_verify {
            Arc::new(Verifier {
                provider,
                check: Check::AnyCertificate,
            })
        } else {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            if let Some(path) = &self.ca_file {
                add_pem(&mut roots, &cx.resolve(path))?;
            }
            let webpki =
                WebPkiServerVerifier::builder_with_provider(roots.into(), provider.clone())
                    .build()
                    .map_err(|e| {
                        OptionError::new("ca_file", format!("no usable CA certificate: {e}"))
                    })?;
            match &self.server_name {
                Some(name) => {
                    let name = ServerName::try_from(name.clone()).map_err(|_| {
                        OptionError::new(
                            "server_name",
                            format!("`{name}` is not a DNS name or IP address"),
                        )
                    })?;
                    Arc::new(Verifier {
                        provider,
                        check: Check::Named(name, webpki),
                    })
                }
                None => webpki,
            }
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match (&self.client_cert, &self.client_key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let (cert, key) = (cx.resolve(cert), cx.resolve(key));
                let chain = CertificateDer::pem_file_iter(&cert)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| pem_error("client_cert", &cert, e))?;
                let key = PrivateKeyDer::from_pem_file(&key)
                    .map_err(|e| pem_error("client_key", &key, e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| OptionError::new("client_key", format!("{e}")))?
            }
            (Some(_), None) => {
                return Err(OptionError::new(
                    "client_cert",
                    "`client_cert` needs `client_key`",
                ));
            }
            (None, Some(_)) => {
                return Err(OptionError::new(
                    "client_key",
                    "`client_key` needs `client_cert`",
                ));
            }
        };
        Ok(Arc::new(config))
    }

    /// An HTTP client builder that uses `config` for TLS.
    pub fn http_client(config: &Arc<rustls::ClientConfig>) -> reqwest::ClientBuilder {
        reqwest::Client::builder().use_preconfigured_tls((**config).clone())
    }

    /// One warning, when the source starts, that certificates go unchecked.
    pub fn warn_if_insecure(&self, source: &str) {
        if self.insecure_skip_verify {
            warn!(
                source,
                "insecure_skip_verify: server certificates are NOT checked"
            );
        }
    }
}

/// A TLS server configuration from PEM files (a certificate chain and its
/// key), for the simulators that stand in for vendors' servers.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", cert.display()))?;
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read a private key from {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private))
        .map_err(|e| {
            format!(
                "{} and {} do not make a TLS server: {e}",
                cert.display(),
                key.display()
            )
        })?;
    Ok(Arc::new(config))
}

fn pem_error(option: &str, path: &Path, e: impl std::fmt::Display) -> OptionError {
    OptionError::new(option, format!("cannot read {}: {e}", path.display()))
        .hint("a PEM file, `-----BEGIN ...` blocks")
}

fn add_pem(roots: &mut rustls::RootCertStore, path: &Path) -> Result<(), OptionError> {
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| pem_error("ca_file", path, e))?;
    let mut added = 0;
    for cert in certs {
        let cert = cert.map_err(|e| pem_error("ca_file", path, e))?;
        roots.add(cert).map_err(|e| pem_error("ca_file", path, e))?;
        added += 1;
    }
    if added == 0 {
        return Err(pem_error("ca_file", path, "no certificate in it"));
    }
    Ok(())
}

/// What a certificate must be: anything (`insecure_skip_verify`), or
/// trusted and issued for a configured name rather than the URL's host.
/// Handshake signatures are checked either way.
#[derive(Debug)]
enum Check {
    AnyCertificate,
    Named(ServerName<'static>, Arc<WebPkiServerVerifier>),
}

#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    check: Check,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.check {
            Check::AnyCertificate => Ok(ServerCertVerified::assertion()),
            Check::Named(name, webpki) => {
                webpki.verify_server_cert(end_entity, intermediates, name, ocsp, now)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
