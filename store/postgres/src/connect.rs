//! From a `postgres://` URL to a pool of connections: TLS as the URL's `sslmode` asks, with
//! libpq's meanings, through rustls with the ring provider.
//!
//! - `disable`: no TLS. `prefer` (the default) and `allow`: TLS when the server offers it,
//!   its certificate not checked. `require`: TLS, its certificate not checked (unless
//!   `sslrootcert` is given: then as `verify-ca`).
//! - `verify-ca`: TLS, the certificate chain checked against the roots. `verify-full`: and the
//!   host name too.
//! - `sslrootcert`: a PEM file of roots, or `system` (also the default) for the system's.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode;

use crate::error::Failure;

/// How a pool is made; the defaults are what a server uses.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections kept at most (per instance).
    pub pool_size: usize,
    /// How long one operation may take in all: waiting for a connection (or making one), its
    /// statements and its commit. Past it the operation fails as unavailable, whether the
    /// database refused, is unreachable or went silent.
    pub timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self { pool_size: 16, timeout: Duration::from_secs(10) }
    }
}

/// What the certificate check asks, from `sslmode` and `sslrootcert`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Check {
    /// No TLS.
    Plain,
    /// TLS without checking the certificate; `required` or only when offered.
    Unchecked { required: bool },
    /// The chain against these roots (`None`: the system's), and the name when `name`.
    Chain { roots: Option<String>, name: bool },
}

/// Settings of every session the store opens.
const SESSION_OPTIONS: &str = "-c lock_timeout=5s";

/// Splits the URL into tokio-postgres's configuration and the TLS check. tokio-postgres
/// knows only `disable`, `prefer` and `require`; the rest of libpq's meanings are ours.
fn parse(url: &str) -> Result<(tokio_postgres::Config, Check), Failure> {
    let bad = |why: String| Failure::Config(why);
    let mut parsed = url::Url::parse(url).map_err(|e| bad(format!("not a database URL: {e}")))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(bad("expected a postgres:// or postgresql:// URL".into()));
    }
    let mut mode = "prefer".to_owned();
    let mut root: Option<String> = None;
    let mut kept = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "sslmode" => mode = value.into_owned(),
            "sslrootcert" => root = Some(value.into_owned()),
            _ => kept.push((key.into_owned(), value.into_owned())),
        }
    }
    let roots = root.filter(|r| r != "system");
    let check = match mode.as_str() {
        "disable" => Check::Plain,
        "allow" | "prefer" => Check::Unchecked { required: false },
        "require" if roots.is_some() => Check::Chain { roots, name: false },
        "require" => Check::Unchecked { required: true },
        "verify-ca" => Check::Chain { roots, name: false },
        "verify-full" => Check::Chain { roots, name: true },
        other => {
            return Err(bad(format!(
                "sslmode={other}: expected disable, allow, prefer, require, verify-ca or verify-full"
            )));
        }
    };
    parsed.set_query(None);
    if !kept.is_empty() {
        parsed.query_pairs_mut().extend_pairs(kept);
    }
    let mut config: tokio_postgres::Config =
        parsed.as_str().parse().map_err(|e| bad(format!("not a database URL: {e}")))?;
    config.ssl_mode(match check {
        Check::Plain => SslMode::Disable,
        Check::Unchecked { required: false } => SslMode::Prefer,
        _ => SslMode::Require,
    });
    if config.get_application_name().is_none() {
        config.application_name("verifyd");
    }
    // A lock held longer than this (a stuck transaction elsewhere) fails the statement, and
    // the request answers 503, rather than holding the request and its connection without
    // end (as SQLite's busy timeout does). The URL's own options come after and win.
    let options = match config.get_options() {
        Some(given) => format!("{SESSION_OPTIONS} {given}"),
        None => SESSION_OPTIONS.to_owned(),
    };
    config.options(options);
    Ok((config, check))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(file: Option<&str>) -> Result<RootCertStore, Failure> {
    use rustls::pki_types::pem::PemObject as _;
    let mut store = RootCertStore::empty();
    match file {
        Some(path) => {
            let certificates = CertificateDer::pem_file_iter(path)
                .map_err(|e| Failure::Config(format!("sslrootcert={path}: {e}")))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Failure::Config(format!("sslrootcert={path}: {e}")))?;
            let (added, _) = store.add_parsable_certificates(certificates);
            if added == 0 {
                return Err(Failure::Config(format!("sslrootcert={path}: no certificate in the file")));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
        }
    }
    Ok(store)
}

fn tls(check: &Check) -> Result<Option<ClientConfig>, Failure> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::Config(format!("TLS: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        Check::Plain => return Ok(None),
        Check::Unchecked { .. } => Arc::new(Unchecked(provider().signature_verification_algorithms)),
        Check::Chain { roots: file, name } => {
            let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(file.as_deref())?), provider())
                .build()
                .map_err(|e| Failure::Config(format!("TLS roots: {e}")))?;
            if *name { chain } else { Arc::new(ChainOnly(chain)) }
        }
    };
    Ok(Some(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth()))
}

/// `require` as libpq means it: the connection is encrypted, the server not authenticated.
/// Signatures are still checked, against the certificate's key.
#[derive(Debug)]
struct Unchecked(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a root; the name may be any.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The pool for `url`: no connection is made yet.
pub fn pool(url: &str, options: &PostgresOptions) -> Result<deadpool_postgres::Pool, Failure> {
    let (mut config, check) = parse(url)?;
    config.connect_timeout(options.timeout);
    let manager_config =
        deadpool_postgres::ManagerConfig { recycling_method: deadpool_postgres::RecyclingMethod::Fast };
    let manager = match tls(&check)? {
        Some(tls) => deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres_rustls::MakeRustlsConnect::new(tls),
            manager_config,
        ),
        None => deadpool_postgres::Manager::from_config(config, tokio_postgres::NoTls, manager_config),
    };
    deadpool_postgres::Pool::builder(manager)
        .max_size(options.pool_size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .create_timeout(Some(options.timeout))
        .wait_timeout(Some(options.timeout))
        .build()
        .map_err(|e| Failure::Config(e.to_string()))
}

/// Where the URL points, without its password: for messages.
pub fn describe(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.set_query(None);
            parsed.to_string()
        }
        Err(_) => "the database URL".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Check {
        parse(url).unwrap().1
    }

    #[test]
    fn sslmode_takes_libpq_meanings() {
        assert_eq!(check("postgres://h/db"), Check::Unchecked { required: false });
        assert_eq!(check("postgres://h/db?sslmode=disable"), Check::Plain);
        assert_eq!(check("postgresql://h/db?sslmode=require"), Check::Unchecked { required: true });
        assert_eq!(
            check("postgres://h/db?sslmode=require&sslrootcert=/ca.pem"),
            Check::Chain { roots: Some("/ca.pem".into()), name: false }
        );
        assert_eq!(check("postgres://h/db?sslmode=verify-ca"), Check::Chain { roots: None, name: false });
        assert_eq!(
            check("postgres://h/db?sslmode=verify-full&sslrootcert=system"),
            Check::Chain { roots: None, name: true }
        );
        for url in ["postgres://h/db?sslmode=sometimes", "mysql://h/db", "not a url"] {
            assert!(matches!(parse(url), Err(Failure::Config(_))), "{url}");
        }
    }

    #[test]
    fn the_rest_of_the_url_reaches_the_driver() {
        let (config, _) = parse(
            "postgres://u:p%40ss@db.example:6543/verifyd?sslmode=verify-full&connect_timeout=3&application_name=x",
        )
        .unwrap();
        assert_eq!(config.get_user(), Some("u"));
        assert_eq!(config.get_password(), Some(&b"p@ss"[..]));
        assert_eq!(config.get_dbname(), Some("verifyd"));
        assert_eq!(config.get_ports(), [6543]);
        assert_eq!(config.get_ssl_mode(), SslMode::Require);
        assert_eq!(config.get_application_name(), Some("x"));
        assert_eq!(config.get_options(), Some(SESSION_OPTIONS));
        let (config, _) = parse("postgres://h/db?options=-csearch_path%3Dtenant").unwrap();
        assert_eq!(config.get_options(), Some("-c lock_timeout=5s -csearch_path=tenant"), "the URL's options kept");
    }

    #[test]
    fn every_mode_builds_its_tls() {
        assert!(tls(&Check::Plain).unwrap().is_none());
        for check in [Check::Unchecked { required: true }, Check::Chain { roots: None, name: true }] {
            assert!(tls(&check).unwrap().is_some(), "{check:?}");
        }
        let missing = Check::Chain { roots: Some("/nonexistent/ca.pem".into()), name: true };
        assert!(matches!(tls(&missing), Err(Failure::Config(m)) if m.contains("/nonexistent/ca.pem")));
    }

    #[test]
    fn descriptions_hide_the_password() {
        let text = describe("postgres://verifyd:hunter2@db.internal:5432/verifyd?sslmode=require");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("db.internal:5432/verifyd"), "{text}");
    }

    /// Against the test database (skipped without one): `require` encrypts, and a check of
    /// the chain refuses a certificate no root vouches for. The test servers (Debian's
    /// default) offer TLS with a self-signed certificate.
    #[tokio::test]
    async fn tls_as_the_url_asks() {
        let Ok(base) = std::env::var(crate::TEST_URL_VARIABLE) else {
            eprintln!("skipped: {} is not set", crate::TEST_URL_VARIABLE);
            return;
        };
        let with = |mode: &str| format!("{base}{}sslmode={mode}", if base.contains('?') { '&' } else { '?' });
        let encrypted = |url: String| async move {
            let options = PostgresOptions { pool_size: 1, timeout: Duration::from_secs(5) };
            let conn = pool(&url, &options).unwrap().get().await.map_err(|e| Failure::from(e).to_string())?;
            let row = conn.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await;
            Ok::<bool, String>(row.map_err(|e| e.to_string())?.get(0))
        };
        let offered = encrypted(with("require")).await;
        if offered.as_ref().is_err_and(|e| e.contains("TLS")) {
            eprintln!("skipped: the test server offers no TLS ({offered:?})");
            return;
        }
        assert_eq!(offered, Ok(true), "require");
        assert_eq!(encrypted(with("disable")).await, Ok(false), "disable");
        let refused = encrypted(with("verify-full")).await;
        assert!(refused.as_ref().is_err_and(|e| e.contains("certificate")), "verify-full: {refused:?}");
    }
}
