//! Reading a `postgres://` URL: its parts, its parameters and their checks, and taking
//! a password out of it.

use std::path::PathBuf;
use std::time::Duration;

use super::{
    is_local_host, ChannelBinding, DatabaseConfig, Password, SslMode, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_PORT,
};
use crate::PgError;

impl DatabaseConfig {
    /// Parses `postgres://user[:password]@host[:port][/dbname][?param=value&...]`, with no
    /// look at the environment. Parameters: `sslmode`, `sslrootcert`, `application_name`,
    /// `connect_timeout` (seconds), `channel_binding` and `password`; any other is refused,
    /// so a misspelt `sslmode` cannot silently leave the connection in plain text. Without
    /// `sslmode`, a host off this machine gets `require` (see `SslMode`); `prefer` for such
    /// a host is refused rather than quietly made stronger, so the URL says what is done.
    pub fn parse(url: &str) -> Result<Self, PgError> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| config_error("a database URL starts with postgres://"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (authority, path) = match rest.split_once('/') {
            Some((authority, path)) => (authority, path),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };

        let (user, mut password) = match userinfo {
            None => (None, None),
            Some(userinfo) => {
                let (user, password) = match userinfo.split_once(':') {
                    Some((user, password)) => (user, Some(password)),
                    None => (userinfo, None),
                };
                // The error names neither part: the password may be in either by mistake.
                let bad = || {
                    config_error(
                        "the user name or password in the URL is not valid percent-encoding",
                    )
                };
                let user = decode(user).ok_or_else(bad)?;
                let password = match password {
                    Some(p) => Some(Password(decode(p).ok_or_else(bad)?)),
                    None => None,
                };
                (Some(user).filter(|u| !u.is_empty()), password)
            }
        };
        let user = user.ok_or_else(|| {
            config_error("the database URL names no user (postgres://USER@host/database)")
        })?;

        let (host, port) = split_host_port(hostport)?;
        let dbname = decode(path).ok_or_else(|| {
            config_error("the database name in the URL is not valid percent-encoding")
        })?;
        if dbname.contains('/') {
            return Err(config_error("the database name in the URL contains a '/'"));
        }
        let dbname = if dbname.is_empty() {
            user.clone()
        } else {
            dbname
        };

        let mut config = Self {
            host,
            port,
            user,
            dbname,
            sslmode: SslMode::Prefer,
            channel_binding: ChannelBinding::Prefer,
            sslrootcert: None,
            application_name: "tillwatch".to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            password: None,
        };
        let mut sslmode = None;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(value) = decode(value) else {
                return Err(PgError::Config(format!(
                    "the value of '{key}' in the URL is not valid percent-encoding"
                )));
            };
            match key {
                "sslmode" => sslmode = Some(value.parse()?),
                "channel_binding" => config.channel_binding = value.parse()?,
                "sslrootcert" => config.sslrootcert = Some(PathBuf::from(value)),
                "application_name" => config.application_name = value,
                "connect_timeout" => {
                    let secs: u64 = value.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        config_error("connect_timeout is a whole number of seconds above 0")
                    })?;
                    config.connect_timeout = Duration::from_secs(secs);
                }
                "password" => password = Some(Password(value)),
                other => {
                    return Err(PgError::Config(format!(
                        "unknown database URL parameter '{other}' (known: sslmode, \
                         sslrootcert, channel_binding, application_name, connect_timeout)"
                    )))
                }
            }
        }
        config.password = password;
        let local = is_local_host(&config.host);
        config.sslmode = match sslmode {
            Some(SslMode::Prefer) if !local => {
                return Err(PgError::Config(format!(
                    "sslmode=prefer would fall back to plain text on the way to {}: leave \
                     sslmode out (TLS with the certificate checked), or write \
                     sslmode=disable for a network you trust",
                    config.host
                )))
            }
            Some(mode) => mode,
            None if local => SslMode::Prefer,
            None => SslMode::Require,
        };
        if config.sslmode == SslMode::Disable && config.channel_binding == ChannelBinding::Require {
            return Err(config_error(
                "channel_binding=require needs TLS: it cannot go with sslmode=disable",
            ));
        }
        Ok(config)
    }
}

/// Takes any password out of a database URL (the user part's and a `password=`
/// parameter), keeping everything else as written: the URL can then be kept in a settings
/// file and the password in the OS keyring. The URL must parse.
pub fn take_password(url: &str) -> Result<(String, Option<Password>), PgError> {
    let url = url.trim();
    let password = DatabaseConfig::parse(url)?.password;
    if password.is_none() {
        return Ok((url.to_owned(), None));
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, Some(path)),
        None => (rest, None),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{user}@{hostport}")
        }
        None => authority.to_owned(),
    };
    let mut out = format!("{scheme}://{authority}");
    if let Some(path) = path {
        out.push('/');
        out.push_str(path);
    }
    let kept: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && *p != "password" && !p.starts_with("password="))
        .collect();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    Ok((out, password))
}

fn config_error(message: &str) -> PgError {
    PgError::Config(message.to_owned())
}

fn split_host_port(hostport: &str) -> Result<(String, u16), PgError> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        // An IPv6 address: [::1]:5432
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| config_error("an IPv6 host in the URL is missing its ']'"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| config_error("the database URL has text after the host"))?,
            ),
        };
        (host, port)
    } else {
        match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(config_error("the database URL names no host"));
    }
    if host.contains(',') {
        return Err(config_error(
            "the database URL names several hosts; give one",
        ));
    }
    let port = match port {
        None | Some("") => DEFAULT_PORT,
        Some(p) => p.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
            PgError::Config(format!(
                "the port '{p}' in the database URL is not a port number"
            ))
        })?,
    };
    let host = decode(host)
        .ok_or_else(|| config_error("the host in the URL is not valid percent-encoding"))?;
    Ok((host, port))
}

/// Percent-decoding (RFC 3986); `None` for a broken escape or bytes that are not UTF-8.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_url_is_parsed() {
        let c = DatabaseConfig::parse(
            "postgres://shop@db.example.com:6543/tills?sslmode=require&application_name=serve&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(c.host, "db.example.com");
        assert_eq!(c.port, 6543);
        assert_eq!(c.user, "shop");
        assert_eq!(c.dbname, "tills");
        assert_eq!(c.sslmode, SslMode::Require);
        assert_eq!(c.application_name, "serve");
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
        assert!(!c.has_password());
    }

    #[test]
    fn defaults_follow_libpq() {
        let c = DatabaseConfig::parse("postgresql://shop@localhost").unwrap();
        assert_eq!(c.port, 5432);
        assert_eq!(c.dbname, "shop", "the database defaults to the user's name");
        assert_eq!(c.sslmode, SslMode::Prefer);
        assert_eq!(c.channel_binding, ChannelBinding::Prefer);
        assert_eq!(c.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    }

    #[test]
    fn a_host_off_this_machine_gets_verified_tls_unless_told_otherwise() {
        let mode = |url: &str| DatabaseConfig::parse(url).map(|c| c.sslmode);
        for host in [
            "db.example.com",
            "10.0.0.5",
            "192.168.1.20:5433",
            "[2001:db8::1]",
            "[::ffff:127.0.0.1]",
            "localhost.example.com",
            "128.0.0.1",
        ] {
            let url = format!("postgres://u@{host}/d");
            assert_eq!(mode(&url).unwrap(), SslMode::Require, "{url}");
            // prefer could fall back to plain text: refused, and the error says why.
            let e = mode(&format!("{url}?sslmode=prefer")).unwrap_err();
            assert!(e.to_string().contains("plain text"), "{url}: {e}");
            // Plain text only when written out.
            assert_eq!(
                mode(&format!("{url}?sslmode=disable")).unwrap(),
                SslMode::Disable
            );
        }
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.1.2.3",
            "[::1]",
            "%2Fvar%2Frun%2Fpostgresql",
        ] {
            let url = format!("postgres://u@{host}/d");
            assert_eq!(mode(&url).unwrap(), SslMode::Prefer, "{url}");
            assert_eq!(
                mode(&format!("{url}?sslmode=prefer")).unwrap(),
                SslMode::Prefer
            );
            assert_eq!(
                mode(&format!("{url}?sslmode=require")).unwrap(),
                SslMode::Require
            );
        }
    }

    #[test]
    fn channel_binding_is_preferred_and_may_be_required_over_tls_only() {
        let c = DatabaseConfig::parse("postgres://u@db.example/d").unwrap();
        assert_eq!(c.channel_binding, ChannelBinding::Prefer);
        let c = DatabaseConfig::parse("postgres://u@db.example/d?channel_binding=require").unwrap();
        assert_eq!(c.channel_binding, ChannelBinding::Require);
        let e = DatabaseConfig::parse(
            "postgres://u@127.0.0.1/d?sslmode=disable&channel_binding=require",
        )
        .unwrap_err();
        assert!(e.to_string().contains("needs TLS"), "{e}");
        let e = DatabaseConfig::parse("postgres://u@h/d?channel_binding=maybe").unwrap_err();
        assert!(e.to_string().contains("not supported"), "{e}");
    }

    #[test]
    fn ipv6_hosts_and_percent_encoding() {
        let c = DatabaseConfig::parse(
            "postgres://sh%40p@[::1]:5433/my%20db?sslrootcert=%2Fetc%2Fca.pem",
        )
        .unwrap();
        assert_eq!(c.host, "::1");
        assert_eq!(c.port, 5433);
        assert_eq!(c.user, "sh@p");
        assert_eq!(c.dbname, "my db");
        assert_eq!(c.sslrootcert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(
            c.to_string(),
            "postgres://sh@p@[::1]:5433/my db?sslmode=prefer"
        );
    }

    #[test]
    fn verify_full_is_require_and_weaker_modes_are_refused() {
        let c = DatabaseConfig::parse("postgres://u@h/d?sslmode=verify-full").unwrap();
        assert_eq!(c.sslmode, SslMode::Require);
        let c = DatabaseConfig::parse("postgres://u@h/d").unwrap();
        assert_eq!(c.sslmode, SslMode::Require);
        for mode in ["allow", "verify-ca", "REQUIRE", ""] {
            let e = DatabaseConfig::parse(&format!("postgres://u@h/d?sslmode={mode}")).unwrap_err();
            assert!(e.to_string().contains("not supported"), "{mode}: {e}");
        }
    }

    #[test]
    fn bad_urls_are_refused_with_a_reason() {
        let cases = [
            ("mysql://u@h/d", "starts with postgres://"),
            ("postgres://h/d", "names no user"),
            ("postgres://u@/d", "names no host"),
            ("postgres://u@h:99999/d", "not a port number"),
            ("postgres://u@h:0/d", "not a port number"),
            ("postgres://u@h1,h2/d", "several hosts"),
            (
                "postgres://u@h/d?sslmod=require",
                "unknown database URL parameter 'sslmod'",
            ),
            ("postgres://u@h/d?connect_timeout=0", "connect_timeout"),
            ("postgres://u@h/a/b", "contains a '/'"),
            ("postgres://u@[::1/d", "missing its ']'"),
        ];
        for (url, expected) in cases {
            let e = DatabaseConfig::parse(url).unwrap_err();
            assert!(e.to_string().contains(expected), "{url}: {e}");
        }
    }

    #[test]
    fn a_password_is_taken_out_of_a_url_and_the_rest_kept_as_written() {
        let (url, pw) =
            take_password("postgres://shop:s3cr%3At@db.example:6543/tills?sslmode=require&password=other&connect_timeout=3")
                .unwrap();
        assert_eq!(
            url,
            "postgres://shop@db.example:6543/tills?sslmode=require&connect_timeout=3"
        );
        // The parameter is read last, so it is the one the URL meant.
        assert_eq!(pw.unwrap().expose(), "other");
        let (url, pw) = take_password("postgres://shop:pw@[::1]/d").unwrap();
        assert_eq!(
            (url.as_str(), pw.unwrap().expose()),
            ("postgres://shop@[::1]/d", "pw")
        );
        let (url, pw) = take_password(" postgres://shop@h/d?sslmode=disable ").unwrap();
        assert_eq!(url, "postgres://shop@h/d?sslmode=disable");
        assert!(pw.is_none());
        assert!(take_password("mysql://u:pw@h/d").is_err());
    }
}
