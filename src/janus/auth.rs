//! Request authentication as in the Janus core (`auth.c`, `janus.c`
//! `janus_request_check_secret`): an API secret, tokens (stored through the
//! Admin API, or signed with a shared secret), and the Admin API's secret.
//!
//! - With neither an API secret nor token auth, everything is admitted.
//! - Otherwise a request is admitted when it carries the right `apisecret`
//!   *or* a valid `token`: either one is enough, as in Janus.
//! - A token may be limited to some plugins: `attach` to another gets 405.
//!
//! Signed tokens (Janus `token_auth_secret`) read
//! `<expiry>,janus,<plugin>[,<plugin>…]:<signature>`, where `expiry` is a Unix
//! time in seconds and `signature` is the standard base64 of the HMAC-SHA1 of
//! everything before the `:`, keyed with the secret.
//!
//! Every comparison with a secret or a signature is constant-time; nothing
//! here logs a secret or a token.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use super::error::JanusError;

/// The realm Janus signs core tokens for.
const REALM: &str = "janus";

/// How tokens are checked.
#[derive(Debug, Clone, Default)]
pub enum TokenAuth {
    /// `token_auth = false`: tokens are ignored.
    #[default]
    Off,
    /// Stored tokens, each with the plugins it may attach to.
    Stored(BTreeMap<String, BTreeSet<&'static str>>),
    /// Signed tokens (`token_auth_secret`).
    Signed(String),
}

/// A token request the Admin API could not carry out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Token auth is off, or signed: there is no store (Janus 490).
    #[error("Stored-Token based authentication disabled")]
    NotStored,
    /// `allow_token`/`disallow_token`/`remove_token` of an unknown token (470).
    #[error("Token {0} not found")]
    NotFound(String),
    /// A plugin named in `plugins` does not exist (467).
    #[error("Invalid element type (some of the provided plugins are invalid)")]
    BadPlugin,
    /// `allow_token`/`disallow_token` without plugins (467).
    #[error("Invalid element type (plugins should be a non-empty array)")]
    NoPlugins,
}

impl From<TokenError> for JanusError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::NotStored => JanusError::Unknown(e.to_string()),
            TokenError::NotFound(t) => JanusError::TokenNotFound(t),
            TokenError::BadPlugin | TokenError::NoPlugins => JanusError::Invalid(e.to_string()),
        }
    }
}

/// The gateway's secrets and tokens.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    api_secret: Option<String>,
    admin_secret: Option<String>,
    tokens: TokenAuth,
}

fn eq_ct(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

impl Auth {
    /// Sets the API secret (`None` or empty: none).
    pub fn set_api_secret(&mut self, secret: Option<String>) {
        self.api_secret = nonempty(secret);
    }

    /// Sets the Admin API secret (`None` or empty: none).
    pub fn set_admin_secret(&mut self, secret: Option<String>) {
        self.admin_secret = nonempty(secret);
    }

    /// Turns token auth on or off. With a non-empty `signed_secret` tokens are
    /// signed ones; else they are stored ones, managed through the Admin API.
    pub fn set_token_auth(&mut self, enabled: bool, signed_secret: Option<String>) {
        self.tokens = match (enabled, nonempty(signed_secret)) {
            (false, _) => TokenAuth::Off,
            (true, Some(s)) => TokenAuth::Signed(s),
            (true, None) => TokenAuth::Stored(BTreeMap::new()),
        };
    }

    /// Whether an API secret is set (`server_info` `api_secret`).
    pub fn has_api_secret(&self) -> bool {
        self.api_secret.is_some()
    }

    /// Whether token auth is on (`server_info` `auth_token`).
    pub fn token_auth(&self) -> bool {
        !matches!(self.tokens, TokenAuth::Off)
    }

    /// Whether an Admin API secret is set (`server_info` `admin_secret`).
    pub fn has_admin_secret(&self) -> bool {
        self.admin_secret.is_some()
    }

    /// Whether a request with these credentials is admitted (403 if not).
    /// `now_unix` is the wall-clock time in seconds, for signed tokens.
    pub fn check_request(
        &self,
        apisecret: Option<&str>,
        token: Option<&str>,
        now_unix: u64,
    ) -> Result<(), JanusError> {
        if self.api_secret.is_none() && !self.token_auth() {
            return Ok(());
        }
        let secret_ok = match (&self.api_secret, apisecret) {
            (Some(want), Some(given)) => eq_ct(given, want),
            _ => false,
        };
        if secret_ok || token.is_some_and(|t| self.token_valid(t, now_unix)) {
            Ok(())
        } else {
            Err(JanusError::Unauthorized)
        }
    }

    /// Checks the Admin API secret (403 when one is set and `given` is not it).
    pub fn check_admin(&self, given: Option<&str>) -> Result<(), JanusError> {
        match (&self.admin_secret, given) {
            (None, _) => Ok(()),
            (Some(want), Some(g)) if eq_ct(g, want) => Ok(()),
            _ => Err(JanusError::Unauthorized),
        }
    }

    /// Whether `token` may attach to `plugin` (405 if not). As in Janus, only
    /// a request that carries a token is checked: one admitted by the API
    /// secret alone attaches anywhere.
    pub fn check_plugin(
        &self,
        token: Option<&str>,
        plugin: &str,
        now_unix: u64,
    ) -> Result<(), JanusError> {
        let Some(token) = token else { return Ok(()) };
        let ok = match &self.tokens {
            TokenAuth::Off => true,
            TokenAuth::Stored(map) => map.get(token).is_some_and(|p| p.contains(plugin)),
            TokenAuth::Signed(secret) => {
                signed_claims(secret, token, now_unix).is_some_and(|ps| ps.contains(&plugin))
            }
        };
        if ok {
            Ok(())
        } else {
            Err(JanusError::UnauthorizedPlugin(plugin.to_owned()))
        }
    }

    fn token_valid(&self, token: &str, now_unix: u64) -> bool {
        match &self.tokens {
            TokenAuth::Off => false,
            // A map lookup is not constant-time, but a stored token is an
            // opaque key like a session id: Janus looks it up in a hash table too.
            TokenAuth::Stored(map) => map.contains_key(token),
            TokenAuth::Signed(secret) => signed_claims(secret, token, now_unix).is_some(),
        }
    }

    fn store(&mut self) -> Result<&mut BTreeMap<String, BTreeSet<&'static str>>, TokenError> {
        match &mut self.tokens {
            TokenAuth::Stored(map) => Ok(map),
            _ => Err(TokenError::NotStored),
        }
    }

    /// `add_token`: stores `token` (again: no error) with access to `plugins`,
    /// or to every one of `all` when `plugins` is empty. Unknown plugins are
    /// skipped, as Janus does on add.
    pub fn add_token(
        &mut self,
        token: &str,
        plugins: &[String],
        all: &[&'static str],
    ) -> Result<Vec<&'static str>, TokenError> {
        let map = self.store()?;
        let entry = map.entry(token.to_owned()).or_default();
        if plugins.is_empty() {
            entry.extend(all.iter().copied());
        } else {
            entry.extend(
                plugins
                    .iter()
                    .filter_map(|p| all.iter().find(|a| **a == p.as_str()).copied()),
            );
        }
        Ok(entry.iter().copied().collect())
    }

    /// `allow_token` (`allow`) or `disallow_token`: changes which of `plugins`
    /// a stored token may attach to. Every plugin must exist.
    pub fn allow_token(
        &mut self,
        token: &str,
        plugins: &[String],
        all: &[&'static str],
        allow: bool,
    ) -> Result<Vec<&'static str>, TokenError> {
        let map = self.store()?;
        if plugins.is_empty() {
            return Err(TokenError::NoPlugins);
        }
        let resolved: Vec<&'static str> = plugins
            .iter()
            .map(|p| all.iter().find(|a| **a == p.as_str()).copied())
            .collect::<Option<_>>()
            .ok_or(TokenError::BadPlugin)?;
        let entry = map
            .get_mut(token)
            .ok_or_else(|| TokenError::NotFound(token.to_owned()))?;
        for p in resolved {
            if allow {
                entry.insert(p);
            } else {
                entry.remove(p);
            }
        }
        Ok(entry.iter().copied().collect())
    }

    /// `remove_token`.
    pub fn remove_token(&mut self, token: &str) -> Result<(), TokenError> {
        self.store()?
            .remove(token)
            .map(|_| ())
            .ok_or_else(|| TokenError::NotFound(token.to_owned()))
    }

    /// `list_tokens`: each stored token with its plugins. As in Janus, a
    /// token allowed no plugin at all is left out of the list.
    pub fn list_tokens(&self) -> Result<Vec<(String, Vec<&'static str>)>, TokenError> {
        match &self.tokens {
            TokenAuth::Stored(map) => Ok(map
                .iter()
                .filter(|(_, p)| !p.is_empty())
                .map(|(t, p)| (t.clone(), p.iter().copied().collect()))
                .collect()),
            _ => Err(TokenError::NotStored),
        }
    }
}

/// The plugins a signed token names, when its signature is right, its realm
/// is `janus` and it has not expired at `now_unix`; `None` otherwise.
fn signed_claims<'t>(secret: &str, token: &'t str, now_unix: u64) -> Option<Vec<&'t str>> {
    let (data, signature) = token.split_once(':')?;
    if signature.contains(':') {
        return None;
    }
    let mut fields = data.split(',');
    let expiry: i64 = fields.next()?.trim().parse().ok()?;
    if expiry < 0 || (now_unix as i64) > expiry {
        return None;
    }
    if fields.next()? != REALM {
        return None;
    }
    let want = sign(secret, data);
    eq_ct(signature, &want).then(|| fields.collect())
}

/// The signature part of a signed token over `data` (Janus: base64 of
/// HMAC-SHA1(secret, data)). Public so tests and tools can mint tokens.
pub fn sign(secret: &str, data: &str) -> String {
    // Invariant: HMAC takes keys of any length, so `new_from_slice` cannot fail.
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A signed token valid until `expiry` (Unix seconds) for `plugins`.
pub fn signed_token(secret: &str, expiry: u64, plugins: &[&str]) -> String {
    let mut data = format!("{expiry},{REALM}");
    for p in plugins {
        data.push(',');
        data.push_str(p);
    }
    let sig = sign(secret, &data);
    format!("{data}:{sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const VR: &str = "janus.plugin.videoroom";
    const ST: &str = "janus.plugin.streaming";
    const ALL: &[&str] = &[VR, ST];

    #[test]
    fn nothing_set_admits_everything() {
        let a = Auth::default();
        assert!(a.check_request(None, None, 0).is_ok());
        assert!(a.check_plugin(Some("x"), VR, 0).is_ok());
        assert!(a.check_admin(None).is_ok());
    }

    #[test]
    fn secret_or_token_admits() {
        let mut a = Auth::default();
        a.set_api_secret(Some("s3cret".into()));
        a.set_token_auth(true, None);
        assert_eq!(
            a.check_request(None, None, 0),
            Err(JanusError::Unauthorized)
        );
        assert!(a.check_request(Some("s3cret"), None, 0).is_ok());
        assert_eq!(
            a.check_request(Some("wrong"), Some("tok"), 0),
            Err(JanusError::Unauthorized)
        );
        a.add_token("tok", &[], ALL).unwrap();
        assert!(a.check_request(Some("wrong"), Some("tok"), 0).is_ok());
        assert!(a.check_request(None, Some("tok"), 0).is_ok());
    }

    #[test]
    fn stored_tokens_limit_plugins() {
        let mut a = Auth::default();
        a.set_token_auth(true, None);
        assert_eq!(
            a.add_token("t", &[VR.into(), "janus.plugin.nope".into()], ALL),
            Ok(vec![VR])
        );
        assert!(a.check_plugin(Some("t"), VR, 0).is_ok());
        assert_eq!(a.check_plugin(Some("t"), ST, 0).unwrap_err().code(), 405);
        assert_eq!(
            a.allow_token("t", &[ST.into()], ALL, true),
            Ok(vec![ST, VR])
        );
        assert!(a.check_plugin(Some("t"), ST, 0).is_ok());
        assert_eq!(
            a.allow_token("t", &["bad".into()], ALL, true),
            Err(TokenError::BadPlugin)
        );
        assert_eq!(
            a.allow_token("t", &[], ALL, true),
            Err(TokenError::NoPlugins)
        );
        assert_eq!(
            a.allow_token("u", &[VR.into()], ALL, false),
            Err(TokenError::NotFound("u".into()))
        );
        a.allow_token("t", &[VR.into(), ST.into()], ALL, false)
            .unwrap();
        // A token allowed nothing is valid but not listed (Janus).
        assert_eq!(a.list_tokens(), Ok(vec![]));
        assert!(a.check_request(None, Some("t"), 0).is_ok());
        a.remove_token("t").unwrap();
        assert_eq!(
            a.check_request(None, Some("t"), 0),
            Err(JanusError::Unauthorized)
        );
        assert_eq!(a.remove_token("t"), Err(TokenError::NotFound("t".into())));
    }

    #[test]
    fn token_requests_need_the_store() {
        let mut a = Auth::default();
        assert_eq!(a.add_token("t", &[], ALL), Err(TokenError::NotStored));
        assert_eq!(a.list_tokens(), Err(TokenError::NotStored));
        a.set_token_auth(true, Some("k".into()));
        assert_eq!(a.remove_token("t"), Err(TokenError::NotStored));
        assert_eq!(JanusError::from(TokenError::NotStored).code(), 490);
        assert_eq!(
            JanusError::from(TokenError::NotFound("x".into())).code(),
            470
        );
        assert_eq!(JanusError::from(TokenError::BadPlugin).code(), 467);
    }

    #[test]
    fn signed_tokens() {
        let mut a = Auth::default();
        a.set_token_auth(true, Some("janus".into()));
        let t = signed_token("janus", 2000, &[VR]);
        assert!(a.check_request(None, Some(&t), 1999).is_ok());
        assert!(a.check_request(None, Some(&t), 2000).is_ok());
        assert!(a.check_request(None, Some(&t), 2001).is_err(), "expired");
        assert!(a.check_plugin(Some(&t), VR, 1000).is_ok());
        assert_eq!(a.check_plugin(Some(&t), ST, 1000).unwrap_err().code(), 405);
        let other = signed_token("other-key", 2000, &[VR]);
        assert!(
            a.check_request(None, Some(&other), 1000).is_err(),
            "wrong key"
        );
        let tampered = t.replacen(VR, ST, 1);
        assert!(a.check_request(None, Some(&tampered), 1000).is_err());
        for junk in ["", ":", "1,janus", "x,janus:abc", "2000,realm:abc", "a:b:c"] {
            assert!(a.check_request(None, Some(junk), 1000).is_err(), "{junk}");
        }
    }

    /// The format Janus documents: `openssl dgst -sha1 -hmac` over the data,
    /// base64-encoded (checked against a value computed with openssl).
    #[test]
    fn signature_matches_janus_format() {
        assert_eq!(
            sign("janus", "1700000000,janus,janus.plugin.videoroom"),
            SIGNATURE_FROM_OPENSSL
        );
    }

    /// `printf '%s' '1700000000,janus,janus.plugin.videoroom' |
    ///  openssl dgst -sha1 -hmac janus -binary | base64`
    const SIGNATURE_FROM_OPENSSL: &str = "8YthpHgLHAOwcp64sE1Kz76oU4Q=";

    #[test]
    fn admin_secret() {
        let mut a = Auth::default();
        a.set_admin_secret(Some("adm".into()));
        assert!(a.check_admin(Some("adm")).is_ok());
        assert!(a.check_admin(Some("ad")).is_err());
        assert!(a.check_admin(None).is_err());
        assert!(a.has_admin_secret());
    }
}
