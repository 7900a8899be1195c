//! The master key and everything derived from it.
//!
//! One 32-byte master key (`VERIFYD_MASTER_KEY`, or for SQLite a key file created on first start) is the
//! root of every secret verifyd keeps. [`Keys`] derives separate subkeys from it with HKDF-SHA256:
//!
//! - `verifyd/v1/code-hash`: HMAC-SHA256 of verification codes ([`Keys::code_hash`]);
//! - `verifyd/v1/secret-hash`: HMAC-SHA256 of API key secrets and auth tokens ([`Keys::secret_hash`]);
//! - `verifyd/v1/seal`: XChaCha20-Poly1305 for values that must stay recoverable ([`Keys::seal`]);
//! - `verifyd/v1/token-signing`: the HS256 key of access tokens ([`Keys::token_signing_key`]).
//!
//! The database stores the master key's [fingerprint](MasterKey::fingerprint) so that a start with another
//! key is refused instead of making every stored secret unreadable. Sealed values carry a key id (the first
//! four bytes of the fingerprint), so that after a rotation values sealed under an older master key still
//! open ([`Keys::with_previous`]).
//!
//! Nothing in this module prints key material: `Debug` shows fingerprints only, and no error message
//! contains a key, a secret or the text it was parsed from.

use std::fmt;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead as _, Payload};
use chacha20poly1305::{KeyInit as _, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use rand::rngs::OsRng;
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq as _};

type HmacSha256 = Hmac<Sha256>;

/// The message whose HMAC under the master key is the key's fingerprint.
const FINGERPRINT_LABEL: &[u8] = b"verifyd key fingerprint v1";
/// HKDF info strings, one per purpose.
const INFO_CODE_HASH: &[u8] = b"verifyd/v1/code-hash";
const INFO_SECRET_HASH: &[u8] = b"verifyd/v1/secret-hash";
const INFO_SEAL: &[u8] = b"verifyd/v1/seal";
const INFO_TOKEN_SIGNING: &[u8] = b"verifyd/v1/token-signing";

/// The first byte of every sealed value.
const SEAL_VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN;
/// The shortest sealed value: header, nonce and the tag of an empty plaintext.
const MIN_SEALED_LEN: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;

/// A key file longer than this is not a key file (64 hex digits and some whitespace).
const MAX_KEY_FILE_LEN: u64 = 1024;

/// Errors of this module. No message contains key material or the text a key was parsed from.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A master key given as text is not 64 hexadecimal characters.
    #[error("the master key must be exactly 64 hexadecimal characters (32 bytes)")]
    Malformed,
    /// The key file exists but does not hold a master key. It is left untouched.
    #[error(
        "the key file {} does not hold a master key (it must contain exactly 64 hexadecimal characters); \
         it was left unchanged: restore the right key file or remove it",
        path.display()
    )]
    MalformedFile { path: PathBuf },
    /// The key file (or its directory) could not be read, created or written.
    #[error("cannot use the key file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The key file grants some access to group or others.
    #[error(
        "the key file {} is accessible to group or others; restrict it to its owner (chmod 600) and start again",
        path.display()
    )]
    Permissions { path: PathBuf },
    /// A sealed value cannot be opened: unknown key id, unknown format version, too short, sealed for
    /// another context, or altered.
    #[error(
        "a stored encrypted value cannot be decrypted: it was sealed under a master key that is not configured, \
         or it is damaged"
    )]
    Unsealable,
}

/// What a sealed value is, and whose: the associated data it is sealed under. The labels are
/// stored implicitly in every sealed value; they never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealContext<'a> {
    /// An account's auth token (webhooks are signed with it).
    AuthToken(&'a verifyd_runtime::Sid),
    /// A pending verification's code, kept for re-sends.
    Code(&'a verifyd_runtime::Sid),
    /// A TOTP factor's secret.
    TotpSecret(&'a verifyd_runtime::Sid),
    /// An outbox message's text.
    MessageBody(&'a verifyd_runtime::Sid),
    /// The code an outbox message carries.
    MessageCode(&'a verifyd_runtime::Sid),
    /// An enrolment access token.
    AccessToken(&'a verifyd_runtime::Sid),
    /// A webhook delivery's target URL and form fields.
    WebhookDelivery(&'a verifyd_runtime::Sid),
    /// A webhook's target URL (it may carry credentials).
    WebhookUrl(&'a verifyd_runtime::Sid),
    /// A challenge's hidden details (as JSON).
    HiddenDetails(&'a verifyd_runtime::Sid),
    /// A queued send attempt's message and code (as JSON).
    AttemptPayload(&'a verifyd_runtime::Sid),
    /// A console session: the credentials it signed in with, and its CSRF token and expiry.
    ConsoleSession,
}

impl SealContext<'_> {
    fn label(&self) -> String {
        let (kind, id) = match self {
            Self::AuthToken(sid) => ("auth-token", sid.as_str()),
            Self::Code(sid) => ("code", sid.as_str()),
            Self::TotpSecret(sid) => ("totp", sid.as_str()),
            Self::MessageBody(sid) => ("outbox", sid.as_str()),
            Self::MessageCode(sid) => ("outbox-code", sid.as_str()),
            Self::AccessToken(sid) => ("access-token", sid.as_str()),
            Self::WebhookDelivery(sid) => ("webhook-delivery", sid.as_str()),
            Self::WebhookUrl(sid) => ("webhook-url", sid.as_str()),
            Self::HiddenDetails(sid) => ("hidden-details", sid.as_str()),
            Self::AttemptPayload(sid) => ("attempt", sid.as_str()),
            Self::ConsoleSession => ("console-session", ""),
        };
        format!("{kind}:{id}")
    }
}

/// What a secret hash is of: the hashes of different kinds never match each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    AuthToken,
    ApiKey,
    /// The simulated SNA carrier's URL token of a verification (development mode).
    SnaToken,
}

impl SecretKind {
    fn label(self) -> &'static str {
        match self {
            Self::AuthToken => "auth-token",
            Self::ApiKey => "api-key",
            Self::SnaToken => "sna",
        }
    }
}

/// Which key made a stored secret digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretMatch {
    No,
    /// The current master key.
    Current,
    /// A previous master key (or no named key: a digest from before digests named theirs).
    Previous,
}

/// What a stored value is, for [`Keys::made_under_current`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MadeBy {
    Seal,
    Digest,
}

/// The 32-byte master key (`VERIFYD_MASTER_KEY` as 64 hex characters, or a key file for SQLite).
///
/// `Debug` shows the fingerprint, never the key; there is no `Display`.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").field("fingerprint", &self.fingerprint()).finish()
    }
}

impl MasterKey {
    /// Parses exactly 64 hexadecimal characters (either case) after trimming surrounding whitespace.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyError::Malformed);
        }
        let mut key = [0u8; 32];
        hex::decode_to_slice(text, &mut key).map_err(|_| KeyError::Malformed)?;
        Ok(Self(key))
    }

    /// A new key from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Self(key)
    }

    /// The key as 64 lowercase hexadecimal characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// What the database stores to recognise the key: the hex of the first 16 bytes of
    /// HMAC-SHA256(key, "verifyd key fingerprint v1").
    pub fn fingerprint(&self) -> String {
        hex::encode(self.fingerprint_bytes())
    }

    fn fingerprint_bytes(&self) -> [u8; 16] {
        let mac = hmac_sha256(&self.0, &[FINGERPRINT_LABEL]);
        let mut out = [0u8; 16];
        out.copy_from_slice(&mac[..16]);
        out
    }

    /// The sealing key id: the first four bytes of the fingerprint.
    fn key_id(&self) -> [u8; KEY_ID_LEN] {
        let fingerprint = self.fingerprint_bytes();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&fingerprint[..KEY_ID_LEN]);
        id
    }

    /// Loads the key file at `path`, or creates it when absent; the boolean tells whether it was created.
    ///
    /// A new file holds 64 lowercase hex characters and a newline, is created with mode 0o600 (its missing
    /// parent directories with 0o700) and never replaces an existing file. A file that exists but does not
    /// hold a key is an error naming the path ([`KeyError::MalformedFile`]), never silently replaced. On Unix
    /// a key file that grants any access to group or others is refused ([`KeyError::Permissions`]).
    pub fn load_or_create_file(path: &Path) -> Result<(Self, bool), KeyError> {
        Self::load_or_create_ring(path).map(|(current, _, created)| (current, created))
    }

    /// [`load_or_create_file`](Self::load_or_create_file) with the previous keys of a rotation:
    /// the file's first line is the current key, each further line a previous one.
    pub fn load_or_create_ring(path: &Path) -> Result<(Self, Vec<Self>, bool), KeyError> {
        match std::fs::File::open(path) {
            Ok(file) => Self::load_from(path, file).map(|(current, previous)| (current, previous, false)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match Self::create_file(path)? {
                Some(key) => Ok((key, Vec::new(), true)),
                // Another process created it between our open and our create: use theirs.
                None => {
                    let file = std::fs::File::open(path).map_err(|source| io_error(path, source))?;
                    Self::load_from(path, file).map(|(current, previous)| (current, previous, false))
                }
            },
            Err(source) => Err(io_error(path, source)),
        }
    }

    /// Replaces the key file with `current` and `previous` (one key per line), atomically: a
    /// new owner-only file beside it, synced, renamed over it, and the directory synced.
    pub fn write_ring(path: &Path, current: &MasterKey, previous: &[MasterKey]) -> Result<(), KeyError> {
        let temporary = path.with_extension("key.new");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let _ = std::fs::remove_file(&temporary);
        let mut file = options.open(&temporary).map_err(|source| io_error(&temporary, source))?;
        let mut text = String::new();
        for key in std::iter::once(current).chain(previous) {
            text.push_str(&key.to_hex());
            text.push('\n');
        }
        let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_all());
        let mut bytes = text.into_bytes();
        bytes.fill(0);
        written.map_err(|source| io_error(&temporary, source))?;
        drop(file);
        std::fs::rename(&temporary, path).map_err(|source| io_error(path, source))?;
        #[cfg(unix)]
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::File::open(parent).and_then(|dir| dir.sync_all()).map_err(|source| io_error(parent, source))?;
        }
        Ok(())
    }

    fn load_from(path: &Path, file: std::fs::File) -> Result<(Self, Vec<Self>), KeyError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let metadata = file.metadata().map_err(|source| io_error(path, source))?;
            if metadata.permissions().mode() & 0o077 != 0 {
                return Err(KeyError::Permissions { path: path.to_owned() });
            }
        }
        let mut contents = Vec::new();
        file.take(MAX_KEY_FILE_LEN + 1).read_to_end(&mut contents).map_err(|source| io_error(path, source))?;
        let parsed = std::str::from_utf8(&contents).ok().and_then(|text| {
            let keys: Option<Vec<Self>> =
                text.lines().filter(|l| !l.trim().is_empty()).map(|l| Self::from_hex(l).ok()).collect();
            let mut keys = keys?.into_iter();
            Some((keys.next()?, keys.collect()))
        });
        // Wipe the key's text from memory once parsed.
        contents.fill(0);
        parsed.ok_or_else(|| KeyError::MalformedFile { path: path.to_owned() })
    }

    /// Creates the key file; `None` when it exists already (created by someone else meanwhile).
    fn create_file(path: &Path) -> Result<Option<Self>, KeyError> {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt as _;
                builder.mode(0o700);
            }
            builder.create(parent).map_err(|source| io_error(parent, source))?;
        }

        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = match options.open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
            Err(source) => return Err(io_error(path, source)),
        };

        let key = Self::generate();
        let mut text = key.to_hex();
        text.push('\n');
        let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_all());
        // Overwrite the key's text before its allocation is released.
        let mut bytes = text.into_bytes();
        bytes.fill(0);
        if let Err(source) = written {
            drop(file);
            // We created this file a moment ago and it holds no usable key: remove it so that the next start
            // does not refuse a half-written file.
            let _ = std::fs::remove_file(path);
            return Err(io_error(path, source));
        }
        drop(file);

        // Make the new directory entry durable too: a database that records this key's fingerprint must
        // never outlive the key file after a power loss.
        #[cfg(unix)]
        if let Some(parent) = parent {
            std::fs::File::open(parent).and_then(|dir| dir.sync_all()).map_err(|source| io_error(parent, source))?;
        }
        Ok(Some(key))
    }
}

fn io_error(path: &Path, source: io::Error) -> KeyError {
    KeyError::Io { path: path.to_owned(), source }
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = match <HmacSha256 as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The subkeys of one master key.
#[derive(Clone)]
struct Subkeys {
    key_id: [u8; KEY_ID_LEN],
    code_hash: [u8; 32],
    secret_hash: [u8; 32],
    token_signing: [u8; 32],
    seal: XChaCha20Poly1305,
}

impl Subkeys {
    fn derive(master: &MasterKey) -> Self {
        let hkdf = Hkdf::<Sha256>::new(None, &master.0);
        let expand = |info: &[u8]| -> [u8; 32] {
            let mut okm = [0u8; 32];
            match hkdf.expand(info, &mut okm) {
                Ok(()) => okm,
                Err(_) => unreachable!("32 bytes are within HKDF-SHA256's output limit"),
            }
        };
        let seal_key = expand(INFO_SEAL);
        Self {
            key_id: master.key_id(),
            code_hash: expand(INFO_CODE_HASH),
            secret_hash: expand(INFO_SECRET_HASH),
            token_signing: expand(INFO_TOKEN_SIGNING),
            seal: XChaCha20Poly1305::new(&seal_key.into()),
        }
    }
}

/// Subkeys derived from the master key (and, during a rotation, from the previous master keys).
///
/// `Debug` shows fingerprints only.
#[derive(Clone)]
pub struct Keys {
    current: Subkeys,
    /// Subkeys of older master keys: they open sealed values and match hashes, they never seal or hash.
    previous: Vec<Subkeys>,
    fingerprint: String,
    previous_fingerprints: Vec<String>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("fingerprint", &self.fingerprint)
            .field("previous_key_ids", &self.previous.iter().map(|s| hex::encode(s.key_id)).collect::<Vec<_>>())
            .finish()
    }
}

impl Keys {
    pub fn derive(master: &MasterKey) -> Self {
        Self::with_previous(master, &[])
    }

    /// Keys that also accept values sealed (and hashes made) under older master keys, for a rotation.
    /// Sealing and hashing always use `current`. Duplicates of `current` in `previous` are ignored.
    pub fn with_previous(current: &MasterKey, previous: &[MasterKey]) -> Self {
        let fingerprint = current.fingerprint();
        let mut seen = vec![fingerprint.clone()];
        let mut older = Vec::with_capacity(previous.len());
        for key in previous {
            let fp = key.fingerprint();
            if !seen.contains(&fp) {
                seen.push(fp);
                older.push(Subkeys::derive(key));
            }
        }
        let previous_fingerprints = seen.split_off(1);
        Self { current: Subkeys::derive(current), previous: older, fingerprint, previous_fingerprints }
    }

    fn all(&self) -> impl Iterator<Item = &Subkeys> {
        std::iter::once(&self.current).chain(&self.previous)
    }

    /// HMAC-SHA256(code key, verification_sid ‖ 0x00 ‖ code).
    pub fn code_hash(&self, verification_sid: &str, code: &str) -> [u8; 32] {
        code_hash_with(&self.current, verification_sid, code)
    }

    /// Whether `stored` is the code hash of (`verification_sid`, `code`), compared in constant time. A hash
    /// made under a previous master key also matches, so that a rotation does not void pending
    /// verifications. False for a stored value of the wrong length.
    pub fn code_matches(&self, verification_sid: &str, code: &str, stored: &[u8]) -> bool {
        if stored.len() != 32 {
            return false;
        }
        let matched = self
            .all()
            .fold(Choice::from(0), |acc, keys| acc | code_hash_with(keys, verification_sid, code).ct_eq(stored));
        matched.into()
    }

    /// HMAC-SHA256(secret-hash key, kind ‖ 0x00 ‖ secret): the simulated carrier's URL token is
    /// cut from it. Stored secrets use [`secret_digest`](Self::secret_digest), which names its key.
    pub fn secret_hash(&self, kind: SecretKind, secret: &str) -> [u8; 32] {
        secret_hash_with(&self.current, kind.label(), secret)
    }

    /// What is stored to check a secret (API key secrets, auth tokens): the current key's id
    /// (4 bytes) ‖ HMAC-SHA256(secret-hash key, kind ‖ 0x00 ‖ secret). The key id tells a
    /// rotation which digests a previous key made. These secrets are random and long, so a
    /// slow password hash would add nothing.
    pub fn secret_digest(&self, kind: SecretKind, secret: &str) -> Vec<u8> {
        let mut digest = Vec::with_capacity(KEY_ID_LEN + 32);
        digest.extend_from_slice(&self.current.key_id);
        digest.extend_from_slice(&secret_hash_with(&self.current, kind.label(), secret));
        digest
    }

    /// Whether `stored` (a [`secret_digest`](Self::secret_digest), or a bare 32-byte hash made
    /// before digests named their key) is of (`kind`, `secret`), compared in constant time, and
    /// under which key. A bare hash that matches counts as [`SecretMatch::Previous`]: it is to
    /// be re-made as a digest.
    pub fn secret_match(&self, kind: SecretKind, secret: &str, stored: &[u8]) -> SecretMatch {
        let kind = kind.label();
        match stored.len() {
            32 => {
                let matched = self
                    .all()
                    .fold(Choice::from(0), |acc, keys| acc | secret_hash_with(keys, kind, secret).ct_eq(stored));
                if matched.into() { SecretMatch::Previous } else { SecretMatch::No }
            }
            len if len == KEY_ID_LEN + 32 => {
                let (key_id, mac) = stored.split_at(KEY_ID_LEN);
                let Some(keys) = self.all().find(|keys| keys.key_id[..] == *key_id) else { return SecretMatch::No };
                if !bool::from(secret_hash_with(keys, kind, secret).ct_eq(mac)) {
                    SecretMatch::No
                } else if keys.key_id == self.current.key_id {
                    SecretMatch::Current
                } else {
                    SecretMatch::Previous
                }
            }
            _ => SecretMatch::No,
        }
    }

    /// Whether a sealed value or a secret digest was made under the current master key.
    pub fn made_under_current(&self, value: &[u8], kind: MadeBy) -> bool {
        let key_id = match kind {
            MadeBy::Seal => value.get(1..HEADER_LEN),
            MadeBy::Digest => value.get(..KEY_ID_LEN).filter(|_| value.len() == KEY_ID_LEN + 32),
        };
        key_id == Some(&self.current.key_id[..])
    }

    /// Whether `stored` is a digest or hash of (`kind`, `secret`) under the current or a previous
    /// master key (see [`secret_match`](Self::secret_match)).
    pub fn secret_matches(&self, kind: SecretKind, secret: &str, stored: &[u8]) -> bool {
        self.secret_match(kind, secret, stored) != SecretMatch::No
    }

    /// Encrypts `plaintext` with XChaCha20-Poly1305 under the current master key's seal key and a random
    /// 24-byte nonce.
    ///
    /// Output: `[version 1][key id: 4 bytes][nonce: 24 bytes][ciphertext ‖ 16-byte tag]`. The associated data
    /// is the 5-byte header followed by `context` (e.g. `b"auth-token:AC…"`, `b"code:VE…"`), so a sealed value
    /// opens only for the same context: it cannot be moved to another row or use.
    ///
    /// # Panics
    /// Only for a plaintext beyond XChaCha20-Poly1305's limit (256 GiB).
    fn seal_bytes(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        // 192-bit random nonces from a CSPRNG seeded by the OS (no system call per seal):
        // collisions are negligible at any volume this server will see.
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.push(SEAL_VERSION);
        header.extend_from_slice(&self.current.key_id);
        let aad = [&header[..], context].concat();
        // XChaCha20-Poly1305 refuses only plaintexts beyond 256 GiB; what verifyd seals is a
        // few kilobytes at most (request bodies are limited far below).
        let ciphertext = self
            .current
            .seal
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad })
            .unwrap_or_else(|_| unreachable!("plaintext too long to seal"));
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypts a value made by [`seal`](Self::seal) under the current or a previous master key, chosen by
    /// the key id. [`KeyError::Unsealable`] on an unknown key id, an unknown version, a short input, another
    /// context or any alteration. Never panics.
    fn open_bytes(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        if sealed.len() < MIN_SEALED_LEN || sealed.first() != Some(&SEAL_VERSION) {
            return Err(KeyError::Unsealable);
        }
        let (header, rest) = sealed.split_at(HEADER_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let key_id = header.get(1..).unwrap_or_default();
        let aad = [header, context].concat();
        self.all()
            .filter(|keys| keys.key_id[..] == *key_id)
            .find_map(|keys| keys.seal.decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad }).ok())
            .ok_or(KeyError::Unsealable)
    }

    /// Seals `plaintext` for one use (see [`SealContext`]): a value opens only for the same
    /// context, so it cannot be moved to another row or purpose.
    pub fn seal(&self, context: SealContext<'_>, plaintext: &[u8]) -> Vec<u8> {
        self.seal_bytes(context.label().as_bytes(), plaintext)
    }

    /// Opens a value sealed for `context`.
    pub fn open(&self, context: SealContext<'_>, sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.open_bytes(context.label().as_bytes(), sealed)
    }

    /// Opens a value sealed as text.
    pub fn open_text(&self, context: SealContext<'_>, sealed: &[u8]) -> Result<String, KeyError> {
        String::from_utf8(self.open(context, sealed)?).map_err(|_| KeyError::Unsealable)
    }

    /// The 32-byte HMAC key for signing access tokens (HS256).
    pub fn token_signing_key(&self) -> &[u8; 32] {
        &self.current.token_signing
    }

    /// The keys an access token's signature may be checked with: the current one, then those of
    /// previous master keys (a token issued just before a rotation lives on for minutes).
    pub fn token_verifying_keys(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.all().map(|keys| &keys.token_signing)
    }

    /// The fingerprint of the current master key (see [`MasterKey::fingerprint`]).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The fingerprints of the previous master keys given for a rotation.
    pub fn previous_fingerprints(&self) -> &[String] {
        &self.previous_fingerprints
    }
}

fn code_hash_with(keys: &Subkeys, verification_sid: &str, code: &str) -> [u8; 32] {
    hmac_sha256(&keys.code_hash, &[verification_sid.as_bytes(), &[0], code.as_bytes()])
}

fn secret_hash_with(keys: &Subkeys, kind: &str, secret: &str) -> [u8; 32] {
    hmac_sha256(&keys.secret_hash, &[kind.as_bytes(), &[0], secret.as_bytes()])
}

/// `bytes` random bytes from the OS CSPRNG as lowercase hex (`2 * bytes` characters).
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// `len` characters drawn uniformly from `A–Z`, `a–z` and `0–9` with the OS CSPRNG (rejection sampling, no
/// modulo bias): for auth tokens and API key secrets.
pub fn random_token(len: usize) -> String {
    use rand::Rng as _;
    OsRng.sample_iter(rand::distributions::Alphanumeric).take(len).map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZERO_HEX: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn zero_key() -> MasterKey {
        MasterKey::from_hex(ZERO_HEX).unwrap()
    }

    fn key_from_byte(byte: u8) -> MasterKey {
        MasterKey([byte; 32])
    }

    #[test]
    fn keys_from_hex_accepts_64_hex_digits_in_either_case_with_surrounding_whitespace() {
        let lower = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let key = MasterKey::from_hex(lower).unwrap();
        assert_eq!(key.to_hex(), lower);
        assert_eq!(MasterKey::from_hex(&lower.to_uppercase()).unwrap().to_hex(), lower);
        assert_eq!(MasterKey::from_hex(&format!("  \t{lower}\n")).unwrap().to_hex(), lower);
        assert_eq!(MasterKey::from_hex(&format!("{lower}\r\n")).unwrap().to_hex(), lower);
    }

    #[test]
    fn keys_from_hex_rejects_wrong_lengths_and_non_hex_without_echoing_the_input() {
        let good = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let bad = [
            good[..63].to_owned(),
            format!("{good}0"),
            String::new(),
            format!("{}g", &good[..63]),
            format!("{}é", &good[..62]),
            format!("0x{}", &good[..62]),
            format!("{} {}", &good[..32], &good[32..63]),
            "+".repeat(64),
        ];
        for text in bad {
            let err = MasterKey::from_hex(&text).unwrap_err();
            assert!(matches!(err, KeyError::Malformed), "{text:?}");
            let message = err.to_string();
            if !text.is_empty() {
                assert!(!message.contains(&text), "{message}");
            }
            assert!(!message.contains(&good[..16]), "{message}");
        }
    }

    #[test]
    fn keys_generate_makes_different_keys() {
        let a = MasterKey::generate();
        let b = MasterKey::generate();
        assert_ne!(a.to_hex(), b.to_hex());
        assert_eq!(a.to_hex().len(), 64);
        assert_eq!(MasterKey::from_hex(&a.to_hex()).unwrap().to_hex(), a.to_hex());
    }

    #[test]
    fn keys_fingerprint_is_stable_and_distinguishes_keys() {
        // HMAC-SHA256(32 zero bytes, "verifyd key fingerprint v1"), first 16 bytes: computed independently.
        assert_eq!(zero_key().fingerprint(), "18cca5892156a13301671cb896db9308");
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(MasterKey(one).fingerprint(), "e2c570016a2ba950212b3b602a7b12ad");
        assert_eq!(zero_key().fingerprint(), zero_key().fingerprint());
        assert_ne!(key_from_byte(1).fingerprint(), key_from_byte(2).fingerprint());
        assert_eq!(Keys::derive(&zero_key()).fingerprint(), zero_key().fingerprint());
    }

    #[test]
    fn keys_debug_prints_no_key_material() {
        let key = MasterKey::generate();
        let hex = key.to_hex();
        let debug = format!("{key:?} {:?}", Keys::with_previous(&key, &[MasterKey::generate()]));
        assert!(!debug.contains(&hex[..16]), "{debug}");
        assert!(debug.contains(&key.fingerprint()), "{debug}");
        let keys = Keys::derive(&key);
        let debug = format!("{keys:?}");
        assert!(!debug.contains(&hex::encode(keys.token_signing_key())[..16]), "{debug}");
    }

    #[test]
    fn keys_subkeys_match_known_values() {
        // Computed independently: HKDF-SHA256 (no salt, IKM = 32 zero bytes) with each info string.
        let keys = Keys::derive(&zero_key());
        assert_eq!(
            hex::encode(keys.code_hash("VE00000000000000000000000000000000", "123456")),
            "f6a94fe7a49cb9f087a17dd5fc0cac7681ae41de16b386d1605e0fb763e967ad"
        );
        assert_eq!(
            hex::encode(keys.secret_hash(SecretKind::ApiKey, "secret")),
            "3e28200262168c0c41612dd7364f36eb4c8d20af0d8e373abeb27adc42d5654e"
        );
        assert_eq!(
            hex::encode(keys.token_signing_key()),
            "e0a461a4adab2677e8dd9f762654a61121723daa225d0a101268721920453b4d"
        );
    }

    #[test]
    fn keys_subkeys_are_distinct_per_purpose_and_per_master_key() {
        let a = Keys::derive(&key_from_byte(7));
        let b = Keys::derive(&key_from_byte(8));
        let subkeys = [a.current.code_hash, a.current.secret_hash, a.current.token_signing];
        for (i, x) in subkeys.iter().enumerate() {
            assert_ne!(*x, [0u8; 32]);
            for y in &subkeys[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_ne!(a.token_signing_key(), b.token_signing_key());
        assert_ne!(a.code_hash("VE1", "123456"), b.code_hash("VE1", "123456"));
    }

    fn secure_file(path: &Path, contents: &str) {
        std::fs::write(path, contents).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    #[test]
    fn keys_key_file_is_created_once_then_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verifyd.key");
        let (created_key, created) = MasterKey::load_or_create_file(&path).unwrap();
        assert!(created);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", created_key.to_hex()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }

        let (loaded_key, created) = MasterKey::load_or_create_file(&path).unwrap();
        assert!(!created);
        assert_eq!(loaded_key.to_hex(), created_key.to_hex());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn keys_key_file_parent_directories_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join("b").join("verifyd.key");
        let (key, created) = MasterKey::load_or_create_file(&path).unwrap();
        assert!(created);
        assert_eq!(MasterKey::load_or_create_file(&path).unwrap().0.to_hex(), key.to_hex());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("a")).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
    }

    #[test]
    fn keys_key_file_without_newline_or_in_uppercase_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verifyd.key");
        let hex = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF";
        secure_file(&path, hex);
        let (key, created) = MasterKey::load_or_create_file(&path).unwrap();
        assert!(!created);
        assert_eq!(key.to_hex(), hex.to_lowercase());
    }

    #[test]
    fn keys_malformed_key_file_is_refused_and_left_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verifyd.key");
        let long = "0".repeat(2000);
        for contents in ["", "not a key\n", &ZERO_HEX[..63], &format!("{ZERO_HEX}0"), &long] {
            secure_file(&path, contents);
            let err = MasterKey::load_or_create_file(&path).unwrap_err();
            assert!(matches!(err, KeyError::MalformedFile { .. }), "{err:?}");
            let message = err.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(contents.is_empty() || !message.contains(contents), "{message}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), contents);
        }
        // Not UTF-8.
        std::fs::write(&path, [0xff; 64]).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(matches!(MasterKey::load_or_create_file(&path), Err(KeyError::MalformedFile { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn keys_key_file_accessible_to_group_or_others_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verifyd.key");
        for mode in [0o640, 0o604, 0o644, 0o620, 0o660, 0o606] {
            secure_file(&path, ZERO_HEX);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = MasterKey::load_or_create_file(&path).unwrap_err();
            assert!(matches!(err, KeyError::Permissions { .. }), "{mode:o}: {err:?}");
            let message = err.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(!message.contains(ZERO_HEX), "{message}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), ZERO_HEX);
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(MasterKey::load_or_create_file(&path).unwrap().0.to_hex(), ZERO_HEX);
    }

    #[test]
    fn keys_key_file_io_error_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        // The parent "directory" is a regular file.
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, "x").unwrap();
        let path = blocker.join("verifyd.key");
        let err = MasterKey::load_or_create_file(&path).unwrap_err();
        assert!(matches!(err, KeyError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains(&blocker.display().to_string()), "{err}");
    }

    #[test]
    fn keys_code_hash_depends_on_sid_and_code() {
        let keys = Keys::derive(&key_from_byte(3));
        let h = keys.code_hash("VE1", "123456");
        assert_eq!(h, keys.code_hash("VE1", "123456"));
        assert_ne!(h, keys.code_hash("VE2", "123456"));
        assert_ne!(h, keys.code_hash("VE1", "123457"));
        // The separator keeps the boundary: ("VE1", "23456") is not ("VE12", "3456").
        assert_ne!(keys.code_hash("VE1", "23456"), keys.code_hash("VE12", "3456"));
    }

    #[test]
    fn keys_code_matches_in_constant_time_and_rejects_wrong_lengths() {
        let keys = Keys::derive(&key_from_byte(3));
        let stored = keys.code_hash("VE1", "123456");
        assert!(keys.code_matches("VE1", "123456", &stored));
        assert!(!keys.code_matches("VE1", "123457", &stored));
        assert!(!keys.code_matches("VE2", "123456", &stored));
        assert!(!keys.code_matches("VE1", "123456", &stored[..31]));
        assert!(!keys.code_matches("VE1", "123456", &[stored.as_slice(), &[0]].concat()));
        assert!(!keys.code_matches("VE1", "123456", &[]));
        assert!(!Keys::derive(&key_from_byte(4)).code_matches("VE1", "123456", &stored));
    }

    #[test]
    fn keys_seal_contexts_keep_their_stored_labels() {
        // Values sealed by earlier versions name their context by these labels: they never change.
        let keys = Keys::derive(&zero_key());
        let sid = verifyd_runtime::Sid::from_parts("VE", [7; 16]);
        for (context, label) in [
            (SealContext::AuthToken(&sid), "auth-token"),
            (SealContext::Code(&sid), "code"),
            (SealContext::TotpSecret(&sid), "totp"),
            (SealContext::MessageBody(&sid), "outbox"),
            (SealContext::MessageCode(&sid), "outbox-code"),
            (SealContext::AccessToken(&sid), "access-token"),
            (SealContext::WebhookDelivery(&sid), "webhook-delivery"),
            (SealContext::WebhookUrl(&sid), "webhook-url"),
            (SealContext::HiddenDetails(&sid), "hidden-details"),
        ] {
            let sealed = keys.seal(context, b"value");
            assert_eq!(keys.open_bytes(format!("{label}:{sid}").as_bytes(), &sealed).unwrap(), b"value");
            assert_eq!(keys.open_text(context, &sealed).unwrap(), "value");
        }
        let sealed = keys.seal(SealContext::Code(&sid), b"123456");
        assert!(keys.open(SealContext::MessageCode(&sid), &sealed).is_err());
        assert_eq!(SecretKind::SnaToken.label(), "sna");
    }

    #[test]
    fn keys_secret_hash_is_separated_by_kind() {
        let keys = Keys::derive(&key_from_byte(5));
        let api = keys.secret_hash(SecretKind::ApiKey, "s3cr3t");
        assert_ne!(api, keys.secret_hash(SecretKind::AuthToken, "s3cr3t"));
        assert_ne!(api, keys.secret_hash(SecretKind::ApiKey, "s3cr3u"));
        assert_ne!(keys.secret_hash(SecretKind::ApiKey, "s3cr3t"), keys.code_hash("api-key", "s3cr3t"));
        assert!(keys.secret_matches(SecretKind::ApiKey, "s3cr3t", &api));
        assert!(!keys.secret_matches(SecretKind::AuthToken, "s3cr3t", &api));
        assert!(!keys.secret_matches(SecretKind::ApiKey, "s3cr3u", &api));
        assert!(!keys.secret_matches(SecretKind::ApiKey, "s3cr3t", &api[..16]));
    }

    #[test]
    fn keys_a_key_file_holds_the_current_key_then_previous_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verifyd.key");
        let (first, created) = MasterKey::load_or_create_file(&path).unwrap();
        assert!(created);
        let second = MasterKey::generate();
        MasterKey::write_ring(&path, &second, std::slice::from_ref(&first)).unwrap();
        let (current, previous, created) = MasterKey::load_or_create_ring(&path).unwrap();
        assert!(!created);
        assert_eq!(current.to_hex(), second.to_hex());
        assert_eq!(previous.iter().map(MasterKey::to_hex).collect::<Vec<_>>(), [first.to_hex()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(!path.with_extension("key.new").exists());
        MasterKey::write_ring(&path, &second, &[]).unwrap();
        assert!(MasterKey::load_or_create_ring(&path).unwrap().1.is_empty());
    }

    #[test]
    fn keys_secret_digests_name_their_key_and_match_across_a_rotation() {
        let (old, new) = (key_from_byte(1), key_from_byte(2));
        let old_keys = Keys::derive(&old);
        let digest = old_keys.secret_digest(SecretKind::ApiKey, "s3cr3t");
        assert_eq!(digest.len(), 36);
        assert_eq!(old_keys.secret_match(SecretKind::ApiKey, "s3cr3t", &digest), SecretMatch::Current);
        assert_eq!(old_keys.secret_match(SecretKind::ApiKey, "wrong", &digest), SecretMatch::No);
        assert_eq!(old_keys.secret_match(SecretKind::AuthToken, "s3cr3t", &digest), SecretMatch::No);
        assert!(old_keys.made_under_current(&digest, MadeBy::Digest));

        let rotated = Keys::with_previous(&new, std::slice::from_ref(&old));
        assert_eq!(rotated.secret_match(SecretKind::ApiKey, "s3cr3t", &digest), SecretMatch::Previous);
        assert!(!rotated.made_under_current(&digest, MadeBy::Digest));
        let remade = rotated.secret_digest(SecretKind::ApiKey, "s3cr3t");
        assert_eq!(rotated.secret_match(SecretKind::ApiKey, "s3cr3t", &remade), SecretMatch::Current);
        assert!(rotated.made_under_current(&remade, MadeBy::Digest));
        // Without the previous key the old digest matches nothing.
        assert_eq!(Keys::derive(&new).secret_match(SecretKind::ApiKey, "s3cr3t", &digest), SecretMatch::No);

        // A bare hash from before digests named their key matches, as one to re-make.
        let bare = old_keys.secret_hash(SecretKind::ApiKey, "s3cr3t");
        assert_eq!(old_keys.secret_match(SecretKind::ApiKey, "s3cr3t", &bare), SecretMatch::Previous);
        assert!(!old_keys.made_under_current(&bare, MadeBy::Digest));

        let factor = verifyd_runtime::Sid::from_parts("YF", [7; 16]);
        let sealed = rotated.seal(SealContext::TotpSecret(&factor), b"x");
        assert!(rotated.made_under_current(&sealed, MadeBy::Seal));
        assert!(!old_keys.made_under_current(&sealed, MadeBy::Seal));
    }

    #[test]
    fn keys_hashes_made_under_a_previous_key_still_match_after_rotation() {
        let old = key_from_byte(1);
        let new = key_from_byte(2);
        let old_keys = Keys::derive(&old);
        let code = old_keys.code_hash("VE1", "123456");
        let secret = old_keys.secret_hash(SecretKind::ApiKey, "s3cr3t");
        let rotated = Keys::with_previous(&new, &[old]);
        assert!(rotated.code_matches("VE1", "123456", &code));
        assert!(rotated.secret_matches(SecretKind::ApiKey, "s3cr3t", &secret));
        assert!(!rotated.code_matches("VE1", "654321", &code));
        // New hashes are made under the new key only.
        assert_eq!(rotated.code_hash("VE1", "123456"), Keys::derive(&new).code_hash("VE1", "123456"));
        assert!(!Keys::derive(&new).code_matches("VE1", "123456", &code));
        assert!(!Keys::derive(&new).secret_matches(SecretKind::ApiKey, "s3cr3t", &secret));
    }

    #[test]
    fn keys_seal_open_round_trip() {
        let keys = Keys::derive(&key_from_byte(9));
        for plaintext in [&b""[..], b"123456", &[0xa5; 1000]] {
            let sealed = keys.seal_bytes(b"code:VE1", plaintext);
            assert_eq!(sealed.len(), MIN_SEALED_LEN + plaintext.len());
            assert_eq!(keys.open_bytes(b"code:VE1", &sealed).unwrap(), plaintext);
        }
    }

    #[test]
    fn keys_seal_output_starts_with_version_and_key_id() {
        let master = key_from_byte(9);
        let keys = Keys::derive(&master);
        let sealed = keys.seal_bytes(b"totp:YF1", b"JBSWY3DPEHPK3PXP");
        assert_eq!(sealed[0], 1);
        assert_eq!(hex::encode(&sealed[1..5]), master.fingerprint()[..8]);
        assert!(!sealed.windows(16).any(|w| w == b"JBSWY3DPEHPK3PXP"));
    }

    #[test]
    fn keys_seal_uses_a_random_nonce() {
        let keys = Keys::derive(&key_from_byte(9));
        let a = keys.seal_bytes(b"outbox:MM1", b"Your code is 123456");
        let b = keys.seal_bytes(b"outbox:MM1", b"Your code is 123456");
        assert_ne!(a, b);
        assert_ne!(a[HEADER_LEN..HEADER_LEN + NONCE_LEN], b[HEADER_LEN..HEADER_LEN + NONCE_LEN]);
    }

    #[test]
    fn keys_open_refuses_another_context() {
        let keys = Keys::derive(&key_from_byte(9));
        let sealed = keys.seal_bytes(b"auth-token:AC1", b"token");
        assert!(matches!(keys.open_bytes(b"auth-token:AC2", &sealed), Err(KeyError::Unsealable)));
        assert!(matches!(keys.open_bytes(b"code:AC1", &sealed), Err(KeyError::Unsealable)));
        assert!(matches!(keys.open_bytes(b"", &sealed), Err(KeyError::Unsealable)));
    }

    #[test]
    fn keys_open_refuses_any_flipped_bit() {
        let keys = Keys::derive(&key_from_byte(9));
        let sealed = keys.seal_bytes(b"code:VE1", b"123456");
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut altered = sealed.clone();
                altered[i] ^= 1 << bit;
                assert!(
                    matches!(keys.open_bytes(b"code:VE1", &altered), Err(KeyError::Unsealable)),
                    "byte {i} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn keys_open_refuses_truncated_empty_and_extended_input() {
        let keys = Keys::derive(&key_from_byte(9));
        let sealed = keys.seal_bytes(b"code:VE1", b"123456");
        for len in 0..sealed.len() {
            assert!(matches!(keys.open_bytes(b"code:VE1", &sealed[..len]), Err(KeyError::Unsealable)), "{len}");
        }
        let extended = [sealed.as_slice(), &[0]].concat();
        assert!(matches!(keys.open_bytes(b"code:VE1", &extended), Err(KeyError::Unsealable)));
    }

    #[test]
    fn keys_open_refuses_an_unknown_key_id_and_version() {
        let keys = Keys::derive(&key_from_byte(9));
        let other = Keys::derive(&key_from_byte(10));
        let sealed = other.seal_bytes(b"code:VE1", b"123456");
        assert!(matches!(keys.open_bytes(b"code:VE1", &sealed), Err(KeyError::Unsealable)));

        // Our own value relabelled with another key id, or another version.
        let mut relabelled = keys.seal_bytes(b"code:VE1", b"123456");
        relabelled[1..5].copy_from_slice(&sealed[1..5]);
        assert!(matches!(keys.open_bytes(b"code:VE1", &relabelled), Err(KeyError::Unsealable)));
        let mut versioned = keys.seal_bytes(b"code:VE1", b"123456");
        versioned[0] = 2;
        assert!(matches!(keys.open_bytes(b"code:VE1", &versioned), Err(KeyError::Unsealable)));
    }

    #[test]
    fn keys_open_never_panics_on_arbitrary_input() {
        let keys = Keys::derive(&key_from_byte(9));
        let mut header = vec![SEAL_VERSION];
        header.extend_from_slice(&keys.current.key_id);
        for len in 0..200 {
            let mut junk = vec![0u8; len];
            OsRng.fill_bytes(&mut junk);
            assert!(keys.open_bytes(b"x", &junk).is_err());
            let with_header = [header.as_slice(), &junk].concat();
            assert!(keys.open_bytes(b"x", &with_header).is_err());
        }
    }

    #[test]
    fn keys_open_accepts_a_value_sealed_independently() {
        // The all-zero master key, context b"code:VE1", plaintext b"123456", nonce 00 01 … 17, computed
        // independently (Python: HKDF by hand, HChaCha20 by hand, ChaCha20-Poly1305 from `cryptography`): catches
        // any change of format, derivation or associated data that would make stored values unreadable.
        let sealed = hex::decode(SEALED_UNDER_ZERO_KEY).unwrap();
        assert_eq!(Keys::derive(&zero_key()).open_bytes(b"code:VE1", &sealed).unwrap(), b"123456");
    }

    const SEALED_UNDER_ZERO_KEY: &str = "0118cca589000102030405060708090a0b0c0d0e0f1011121314151617\
        ce5d3f1c8c999560dd3548b471badbbbbe677c54200d";

    #[test]
    fn keys_rotation_opens_values_sealed_under_a_previous_key() {
        let old = key_from_byte(1);
        let new = key_from_byte(2);
        let sealed = Keys::derive(&old).seal_bytes(b"auth-token:AC1", b"token");
        let rotated = Keys::with_previous(&new, &[key_from_byte(3), old.clone()]);
        assert_eq!(rotated.open_bytes(b"auth-token:AC1", &sealed).unwrap(), b"token");
        assert!(matches!(Keys::derive(&new).open_bytes(b"auth-token:AC1", &sealed), Err(KeyError::Unsealable)));
        assert!(matches!(rotated.open_bytes(b"auth-token:AC2", &sealed), Err(KeyError::Unsealable)));

        // Sealing uses the current key: the old key alone cannot open it.
        let resealed = rotated.seal_bytes(b"auth-token:AC1", b"token");
        assert_eq!(hex::encode(&resealed[1..5]), new.fingerprint()[..8]);
        assert_eq!(Keys::derive(&new).open_bytes(b"auth-token:AC1", &resealed).unwrap(), b"token");
        assert!(Keys::derive(&old).open_bytes(b"auth-token:AC1", &resealed).is_err());
        assert_eq!(rotated.fingerprint(), new.fingerprint());
        assert_eq!(rotated.token_signing_key(), Keys::derive(&new).token_signing_key());

        // The current key listed among the previous ones changes nothing.
        let duplicated = Keys::with_previous(&new, &[new.clone(), old.clone(), old]);
        assert_eq!(duplicated.previous.len(), 1);
        assert_eq!(duplicated.open_bytes(b"auth-token:AC1", &sealed).unwrap(), b"token");
    }

    #[test]
    fn keys_random_hex_has_the_requested_length() {
        for bytes in [0, 1, 16, 32] {
            let text = random_hex(bytes);
            assert_eq!(text.len(), 2 * bytes);
            assert!(text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{text}");
        }
        assert_ne!(random_hex(16), random_hex(16));
    }

    #[test]
    fn keys_random_token_has_the_requested_length_and_alphabet() {
        for len in [0, 1, 32, 64] {
            let token = random_token(len);
            assert_eq!(token.len(), len);
            assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()), "{token}");
        }
        assert_ne!(random_token(32), random_token(32));
        // Over many draws every class of the alphabet appears.
        let many = random_token(4000);
        assert!(many.bytes().any(|b| b.is_ascii_uppercase()));
        assert!(many.bytes().any(|b| b.is_ascii_lowercase()));
        assert!(many.bytes().any(|b| b.is_ascii_digit()));
        let distinct: std::collections::BTreeSet<u8> = many.bytes().collect();
        assert_eq!(distinct.len(), 62);
    }
}
