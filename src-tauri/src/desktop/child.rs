//! Programs the window starts for the owner (`xdg-open`). They are not ours: they start
//! without our `TILLWATCH_*` variables, which may hold the API key and tunnel secrets.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::Command;

use crate::ipc::IpcError;

/// The prefix of every variable Tillwatch reads, secrets included.
const OUR_PREFIX: &str = "TILLWATCH_";

/// A command for `program` whose environment holds none of our variables.
pub fn without_our_env(program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new(program);
    strip_our_env(&mut c, std::env::vars_os().map(|(name, _)| name));
    c
}

/// Removes from `c` every one of `names` that is ours (the rest of the environment stays).
fn strip_our_env(c: &mut Command, names: impl IntoIterator<Item = OsString>) {
    for name in names {
        if name.to_string_lossy().starts_with(OUR_PREFIX) {
            c.env_remove(&name);
        }
    }
}

/// Opens a file or URL with the owner's desktop program for it.
pub fn desktop_open(target: impl AsRef<OsStr>) -> Command {
    let mut c = without_our_env("xdg-open");
    c.arg(target);
    c
}

/// Opens a `mailto:` address in the owner's mail program. Nothing but mailto: is
/// accepted, so the window cannot be made to launch arbitrary programs or pages.
pub fn open_mail(url: &str) -> Result<(), IpcError> {
    if !is_mail_address(url) {
        return Err(IpcError {
            code: "invalid".into(),
            message: "only an e-mail (mailto:) address can be opened".into(),
        });
    }
    desktop_open(url).spawn().map(|_| ()).map_err(|e| IpcError {
        code: "open_failed".into(),
        message: format!("No mail program could be opened ({e}); copy the link instead."),
    })
}

/// A `mailto:` link of a sane length with no control characters.
fn is_mail_address(url: &str) -> bool {
    url.starts_with("mailto:") && url.len() <= 8192 && !url.chars().any(char::is_control)
}

/// Opens the log file in the owner's program for it; the error says where it is.
pub fn open_log(log: &Path) -> Result<(), IpcError> {
    desktop_open(log).spawn().map(|_| ()).map_err(|e| IpcError {
        code: "open_failed".into(),
        message: format!(
            "The log is at {} (it could not be opened: {e}).",
            log.display()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_mail_address_is_opened() {
        assert!(is_mail_address("mailto:a@example.com?subject=Order%2042"));
        assert!(!is_mail_address("https://example.com"));
        assert!(!is_mail_address("mailto:a@example.com\n--option"));
        assert!(!is_mail_address(&format!("mailto:{}", "a".repeat(8192))));
        assert!(open_mail("file:///etc/passwd").is_err());
    }

    #[test]
    fn started_programs_get_none_of_our_variables() {
        // As if serve or the window had these (the test's own environment is left alone).
        let ours = ["TILLWATCH_API_KEY", "TILLWATCH_NGROK_AUTHTOKEN"];
        let mut c = Command::new("env");
        for name in ours {
            c.env(name, "tw-secret-in-the-parent");
        }
        strip_our_env(
            &mut c,
            ours.iter()
                .map(OsString::from)
                .chain([OsString::from("PATH")]),
        );
        let removed: Vec<String> = c
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        assert_eq!(removed, ours, "ours removed, PATH kept");

        // And as the child really sees it.
        let out = c.output().expect("run env");
        let seen = String::from_utf8_lossy(&out.stdout);
        assert!(!seen.contains("TILLWATCH_"), "{seen}");
        assert!(seen.contains("PATH="), "the rest stays: {seen}");

        // The real helper starts from this process's variables.
        assert_eq!(
            desktop_open("mailto:a@example.com").get_program(),
            "xdg-open"
        );
    }
}
