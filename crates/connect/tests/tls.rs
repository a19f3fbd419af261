//! The TLS options against a real TLS server on loopback, with the
//! test-only certificates of `tests/fixtures/tls`: trust through
//! `ca_file`, refusal without it, a server name override, mutual TLS.

use std::path::PathBuf;
use std::sync::Arc;

use netpipe_connect::TlsOptions;
use netpipe_core::BuildContext;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tls")
}

fn context() -> BuildContext {
    BuildContext {
        name: "test".into(),
        base_dir: fixtures(),
        schemas: Default::default(),
        readers_write_json: false,
        inputs: Vec::new(),
        metrics: Default::default(),
    }
}

/// A server that answers `ok` after a handshake; with `client_ca`, only to
/// clients whose certificate that CA signed.
async fn server(client_ca: bool) -> std::net::SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer> = CertificateDer::pem_file_iter(fixtures().join("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(fixtures().join("server.key")).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if client_ca {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(fixtures().join("client-ca.pem")).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = Arc::new(builder.with_single_cert(chain, key).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tls.write_all(b"ok").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    address
}

/// Connects to 127.0.0.1 as a source would; what the server said, or why not.
async fn talk(address: std::net::SocketAddr, options: &TlsOptions) -> Result<String, String> {
    let config = options.client_config(&context()).map_err(|e| e.message)?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let tcp = TcpStream::connect(address).await.unwrap();
    let host = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector
        .connect(host, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    tls.read_to_string(&mut reply)
        .await
        .map_err(|e| e.to_string())?;
    Ok(reply)
}

#[tokio::test]
async fn a_server_is_trusted_through_ca_file_and_refused_without_it() {
    let address = server(false).await;
    let trusted = TlsOptions {
        ca_file: Some("ca.pem".into()),
        ..Default::default()
    };
    assert_eq!(talk(address, &trusted).await.unwrap(), "ok");
    let error = talk(address, &TlsOptions::default()).await.unwrap_err();
    assert!(
        error.contains("UnknownIssuer") || error.contains("unknown issuer"),
        "{error}"
    );
    let insecure = TlsOptions {
        insecure_skip_verify: true,
        ..Default::default()
    };
    assert_eq!(talk(address, &insecure).await.unwrap(), "ok");
}

#[tokio::test]
async fn server_name_decides_which_name_the_certificate_must_carry() {
    let address = server(false).await;
    let named = |name: &str| TlsOptions {
        ca_file: Some("ca.pem".into()),
        server_name: Some(name.into()),
        ..Default::default()
    };
    assert_eq!(talk(address, &named("localhost")).await.unwrap(), "ok");
    let error = talk(address, &named("cvp.example.net")).await.unwrap_err();
    assert!(
        error.contains("not valid for name \"cvp.example.net\""),
        "{error}"
    );
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let address = server(true).await;
    let without = TlsOptions {
        ca_file: Some("ca.pem".into()),
        ..Default::default()
    };
    // TLS 1.3 reports the refusal on the first read, after the handshake.
    assert!(talk(address, &without).await.is_err());
    let with = TlsOptions {
        client_cert: Some("client.pem".into()),
        client_key: Some("client.key".into()),
        ..without
    };
    assert_eq!(talk(address, &with).await.unwrap(), "ok");
}

#[test]
fn bad_tls_options_name_the_option_at_fault() {
    let error = |options: TlsOptions| options.client_config(&context()).unwrap_err();
    let missing = error(TlsOptions {
        ca_file: Some("nope.pem".into()),
        ..Default::default()
    });
    assert_eq!(missing.path, "ca_file");
    assert!(missing.message.contains("nope.pem"), "{}", missing.message);
    let half = error(TlsOptions {
        client_cert: Some("client.pem".into()),
        ..Default::default()
    });
    assert_eq!(half.path, "client_cert");
    let name = error(TlsOptions {
        server_name: Some("not a name!".into()),
        ..Default::default()
    });
    assert_eq!(name.path, "server_name");
}
