//! TLS 1.3 between hosts, mutually authenticated: where a tree's
//! certificates come from, how children inherit them, and which
//! connections use it.
//!
//! A tree with TLS ([`Config::tls`](crate::Config::tls)) has one
//! certificate authority, the *tree CA*. Every actor holds a leaf
//! certificate issued by it, named [`SERVER_NAME`] (the one subject
//! alternative name of every leaf: a connector checks it, so addresses
//! need no names of their own). A connection's acceptor requires a client
//! certificate chaining to the tree CA; its connector checks the
//! acceptor's against the same CA. Then the ordinary handshake of the
//! core runs inside the TLS session, unchanged.
//!
//! Where it applies: every TCP connection whose address is not loopback,
//! both ways (a connector looks at the address it connects to, an
//! acceptor at the local address the connection came in on). Unix
//! sockets and loopback stay plain unless
//! [`TlsConfig::everywhere`] says otherwise. A Python actor cannot speak
//! TLS: a tree with TLS and a Python peer cannot talk over an address
//! where TLS applies.
//!
//! Where the certificates come from, for a root, in this order: its
//! [`Config::tls`](crate::Config::tls); the environment: a tree CA
//! ([`CA_PEM_ENV`] and [`CA_KEY_PEM_ENV`]), files ([`CA_FILE_ENV`],
//! [`CERT_FILE_ENV`], [`KEY_FILE_ENV`]), or [`TLS_ENV`] set to `generate`.
//! A child gets its parent's settings in its environment (never on its
//! command line): the paths of the files, or the tree CA's certificate
//! and key, with which it issues its own leaf.

mod filter;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::error::{ErrorKind, Result};

pub(crate) use filter::{handshake, local_addr, refused_credentials};

/// The name every leaf certificate of a tree carries (its one subject
/// alternative name), and the name a connector asks for.
pub const SERVER_NAME: &str = "tractor.tree";

/// The environment variable naming a PEM file with the tree CA's
/// certificate (with [`CERT_FILE_ENV`] and [`KEY_FILE_ENV`]).
pub const CA_FILE_ENV: &str = "TRACTOR_TLS_CA_FILE";
/// The environment variable naming a PEM file with this host's leaf
/// certificate (and the chain up to the tree CA, if any).
pub const CERT_FILE_ENV: &str = "TRACTOR_TLS_CERT_FILE";
/// The environment variable naming a PEM file with the leaf's private key.
pub const KEY_FILE_ENV: &str = "TRACTOR_TLS_KEY_FILE";
/// The environment variable holding a generated tree CA's certificate, as
/// PEM. Parents set it for their children in the development mode
/// ([`TlsConfig::generate`]).
pub const CA_PEM_ENV: &str = "TRACTOR_TLS_CA_PEM";
/// The environment variable holding a generated tree CA's private key, as
/// PEM (with [`CA_PEM_ENV`]).
pub const CA_KEY_PEM_ENV: &str = "TRACTOR_TLS_CA_KEY_PEM";
/// Set to `generate`: a root without [`Config::tls`](crate::Config::tls)
/// nor the other variables generates a tree CA, as
/// [`TlsConfig::generate`] does.
pub const TLS_ENV: &str = "TRACTOR_TLS";
/// Set to `1`: TLS applies to every connection, Unix sockets and loopback
/// included (see [`TlsConfig::everywhere`]). Parents set it for their
/// children when it is on.
pub const EVERYWHERE_ENV: &str = "TRACTOR_TLS_EVERYWHERE";

/// Where a tree's TLS certificates come from, and where TLS applies.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    source: Source,
    everywhere: bool,
}

#[derive(Debug, Clone)]
enum Source {
    /// Files of this host.
    Files {
        ca: PathBuf,
        cert: PathBuf,
        key: PathBuf,
    },
    /// A fresh tree CA, made at start.
    Generate,
    /// A tree CA made by this crate (what a child inherits).
    Ca { cert_pem: String, key_pem: String },
}

impl TlsConfig {
    /// Production: the tree CA's certificate, this host's leaf certificate
    /// (named [`SERVER_NAME`], issued by the CA, possibly through
    /// intermediates listed after it) and its private key, as PEM files.
    /// Children get the paths ([`CA_FILE_ENV`], [`CERT_FILE_ENV`],
    /// [`KEY_FILE_ENV`]) and read the files at those paths on their own
    /// host. They are read when the actor starts: a missing or malformed
    /// one stops it with [`ErrorKind::Tls`] naming it.
    pub fn from_pem_files(
        ca: impl Into<PathBuf>,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        TlsConfig {
            source: Source::Files {
                ca: ca.into(),
                cert: cert.into(),
                key: key.into(),
            },
            everywhere: false,
        }
    }

    /// Development, no configuration: the root generates a tree CA when
    /// it starts; its certificate and key go to children in their
    /// environment ([`CA_PEM_ENV`], [`CA_KEY_PEM_ENV`]), never on their
    /// command line, and every actor issues its own leaf certificate with
    /// it. Only the tree's actors can connect to one another: another root
    /// has another CA.
    pub fn generate() -> Self {
        TlsConfig {
            source: Source::Generate,
            everywhere: false,
        }
    }

    /// With `true`, TLS applies to every connection, Unix sockets and
    /// loopback included; by default (`false`) only to TCP connections
    /// whose address is not loopback.
    pub fn everywhere(mut self, on: bool) -> Self {
        self.everywhere = on;
        self
    }

    /// A root's, from its environment (see the module's documentation),
    /// if it says anything of TLS.
    fn from_env() -> Result<Option<Self>> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let everywhere = var(EVERYWHERE_ENV).is_some_and(|v| v == "1");
        let text = |name: &str| -> Result<Option<String>> {
            var(name)
                .map(|v| {
                    v.into_string()
                        .map_err(|_| tls_error(name, "not valid UTF-8"))
                })
                .transpose()
        };
        let source = if let Some(cert_pem) = text(CA_PEM_ENV)? {
            let key_pem = text(CA_KEY_PEM_ENV)?
                .ok_or_else(|| tls_error(CA_KEY_PEM_ENV, "missing, with a tree CA"))?;
            Source::Ca { cert_pem, key_pem }
        } else if let Some(ca) = var(CA_FILE_ENV) {
            let need = |name: &str| {
                var(name)
                    .map(PathBuf::from)
                    .ok_or_else(|| tls_error(name, "missing, with a CA file"))
            };
            Source::Files {
                ca: ca.into(),
                cert: need(CERT_FILE_ENV)?,
                key: need(KEY_FILE_ENV)?,
            }
        } else {
            match text(TLS_ENV)?.as_deref() {
                None => return Ok(None),
                Some("generate") => Source::Generate,
                Some(other) => {
                    return Err(tls_error(
                        TLS_ENV,
                        format!("{other:?} is not a mode (the one mode is \"generate\")"),
                    ));
                }
            }
        };
        Ok(Some(TlsConfig { source, everywhere }))
    }
}

fn tls_error(what: impl Into<String>, reason: impl ToString) -> crate::Error {
    ErrorKind::Tls {
        what: what.into(),
        reason: reason.to_string(),
    }
    .into()
}

/// An actor's TLS, ready: the configurations of both ends, and what its
/// children inherit.
#[derive(Clone)]
pub(crate) struct Tls {
    client: Arc<rustls::ClientConfig>,
    server: Arc<rustls::ServerConfig>,
    everywhere: bool,
    env: Vec<(OsString, Option<OsString>)>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("everywhere", &self.everywhere)
            .finish_non_exhaustive()
    }
}

/// Every variable of this module, for clearing.
const ALL_ENV: [&str; 7] = [
    CA_FILE_ENV,
    CERT_FILE_ENV,
    KEY_FILE_ENV,
    CA_PEM_ENV,
    CA_KEY_PEM_ENV,
    TLS_ENV,
    EVERYWHERE_ENV,
];

impl Tls {
    /// A root's, from its configuration and then its environment.
    pub(crate) fn for_root(config: Option<&TlsConfig>) -> Result<Option<Self>> {
        match config {
            Some(c) => Self::new(c).map(Some),
            None => TlsConfig::from_env()?.map(|c| Self::new(&c)).transpose(),
        }
    }

    /// A child's, from the environment its parent gave it.
    pub(crate) fn for_child() -> Result<Option<Self>> {
        Self::for_root(None)
    }

    /// Reads or makes the certificates.
    pub(crate) fn new(config: &TlsConfig) -> Result<Self> {
        let mut env: Vec<(OsString, Option<OsString>)> =
            ALL_ENV.iter().map(|k| (OsString::from(k), None)).collect();
        let set = |env: &mut Vec<(OsString, Option<OsString>)>, key: &str, value: OsString| {
            for (k, v) in env.iter_mut() {
                if k == key {
                    *v = Some(value.clone());
                }
            }
        };
        if config.everywhere {
            set(&mut env, EVERYWHERE_ENV, "1".into());
        }
        let (ca, chain, key) = match &config.source {
            Source::Files { ca, cert, key } => {
                set(&mut env, CA_FILE_ENV, ca.clone().into());
                set(&mut env, CERT_FILE_ENV, cert.clone().into());
                set(&mut env, KEY_FILE_ENV, key.clone().into());
                let ca = certs(&read(ca)?, &ca.display().to_string())?;
                let chain = certs(&read(cert)?, &cert.display().to_string())?;
                let key = PrivateKeyDer::from_pem_slice(&read(key)?)
                    .map_err(|e| tls_error(key.display().to_string(), e))?;
                (ca, chain, key)
            }
            Source::Generate => {
                let (cert_pem, key_pem) = generate_ca()?;
                set(&mut env, CA_PEM_ENV, cert_pem.clone().into());
                set(&mut env, CA_KEY_PEM_ENV, key_pem.clone().into());
                leaf_from_ca(&cert_pem, &key_pem)?
            }
            Source::Ca { cert_pem, key_pem } => {
                set(&mut env, CA_PEM_ENV, cert_pem.clone().into());
                set(&mut env, CA_KEY_PEM_ENV, key_pem.clone().into());
                leaf_from_ca(cert_pem, key_pem)?
            }
        };
        let (client, server) = configs(ca, chain, key)?;
        Ok(Tls {
            client,
            server,
            everywhere: config.everywhere,
            env,
        })
    }

    /// The environment a child is started with: this tree's settings, set
    /// or removed, so that nothing stale is inherited.
    pub(crate) fn child_env(tls: Option<&Self>) -> Vec<(OsString, Option<OsString>)> {
        match tls {
            Some(t) => t.env.clone(),
            None => ALL_ENV.iter().map(|k| (OsString::from(k), None)).collect(),
        }
    }

    /// Whether a connection opened to `target` uses TLS.
    pub(crate) fn applies_to(&self, target: &crate::runtime::Target) -> bool {
        self.everywhere
            || matches!(target, crate::runtime::Target::Tcp(a) if !a.ip().to_canonical().is_loopback())
    }

    /// Whether an accepted connection, whose local address is `local`
    /// (`None`: not TCP), uses TLS.
    pub(crate) fn applies_to_accepted(&self, local: Option<SocketAddr>) -> bool {
        // `::ffff:127.0.0.1` (a dual-stack listener reached over IPv4
        // loopback) is loopback as `127.0.0.1` is, for the connector.
        self.everywhere || local.is_some_and(|a| !a.ip().to_canonical().is_loopback())
    }

    /// A new connector's session.
    pub(crate) fn client(&self) -> std::io::Result<rustls::Connection> {
        let name = ServerName::try_from(SERVER_NAME).map_err(std::io::Error::other)?;
        rustls::ClientConnection::new(self.client.clone(), name)
            .map(rustls::Connection::Client)
            .map_err(std::io::Error::other)
    }

    /// A new acceptor's session.
    pub(crate) fn server(&self) -> std::io::Result<rustls::Connection> {
        rustls::ServerConnection::new(self.server.clone())
            .map(rustls::Connection::Server)
            .map_err(std::io::Error::other)
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| tls_error(path.display().to_string(), e))
}

fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_error(what, e))?;
    if certs.is_empty() {
        return Err(tls_error(what, "no certificate in it"));
    }
    Ok(certs)
}

/// The tree CA's parameters: the same wherever they are made, so that an
/// actor holding the CA's key issues leaves naming the CA exactly.
fn ca_params() -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tractor tree CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// A fresh tree CA: its certificate and key, as PEM.
fn generate_ca() -> Result<(String, String)> {
    let key = rcgen::KeyPair::generate().map_err(|e| tls_error("the tree CA", e))?;
    let cert = ca_params()
        .self_signed(&key)
        .map_err(|e| tls_error("the tree CA", e))?;
    Ok((cert.pem(), key.serialize_pem()))
}

type Identity = (
    Vec<CertificateDer<'static>>,
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
);

/// The CA, and a fresh leaf issued by it with its key.
fn leaf_from_ca(ca_pem: &str, ca_key_pem: &str) -> Result<Identity> {
    let ca = certs(ca_pem.as_bytes(), CA_PEM_ENV)?;
    let ca_key = rcgen::KeyPair::from_pem(ca_key_pem).map_err(|e| tls_error(CA_KEY_PEM_ENV, e))?;
    let issuer = rcgen::Issuer::new(ca_params(), ca_key);
    let leaf_key = rcgen::KeyPair::generate().map_err(|e| tls_error("a leaf key", e))?;
    let mut params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()])
        .map_err(|e| tls_error("a leaf certificate", e))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, SERVER_NAME);
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let leaf = params
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| tls_error("a leaf certificate", e))?;
    let key = PrivateKeyDer::try_from(leaf_key.serialize_der())
        .map_err(|e| tls_error("a leaf key", e))?;
    Ok((ca, vec![leaf.der().clone()], key))
}

/// Both ends' configurations: TLS 1.3 only, each end proving itself with
/// `chain` and `key` and requiring the other's to chain to `ca`.
fn configs(
    ca: Vec<CertificateDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<(Arc<rustls::ClientConfig>, Arc<rustls::ServerConfig>)> {
    // ring, for it builds with a C compiler alone; its provider lacks the
    // post-quantum key exchange, hence the deprecation.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in ca {
        roots
            .add(cert)
            .map_err(|e| tls_error("the tree CA's certificate", e))?;
    }
    let roots = Arc::new(roots);
    let versions = &[&rustls::version::TLS13];
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        roots.clone(),
        provider.clone(),
    )
    .build()
    .map_err(|e| tls_error("the tree CA's certificate", e))?;
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| tls_error("TLS 1.3", e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(|e| tls_error("the leaf certificate and key", e))?;
    // No resumption: nothing is sent after the handshake but our bytes.
    server.send_tls13_tickets = 0;
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| tls_error("TLS 1.3", e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| tls_error("the leaf certificate and key", e))?;
    Ok((Arc::new(client), Arc::new(server)))
}
