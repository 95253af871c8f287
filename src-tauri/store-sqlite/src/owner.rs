//! One owner per database file. Two processes serving one SQLite file would each strip
//! the other's claims, confirm the same deliveries twice and miss each other's changes, so
//! the process that serves a file (`tillwatch serve`, or the window) holds an exclusive OS
//! lock on a file beside it (`production.db.lock`) for as long as it serves. The OS drops
//! the lock when the holder exits, however it exits (a SIGKILL, a power cut), so a stale
//! lock cannot keep the next owner out. The holder writes who it is into the lock file, so
//! the process turned away can say whom to stop.
//!
//! Read commands (and the writes an owner makes by hand: ship, retry, …) take no lock:
//! WAL lets them work beside the serving process.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Which kind of process serves the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Serve,
    Window,
}

impl Program {
    fn as_str(self) -> &'static str {
        match self {
            Program::Serve => "serve",
            Program::Window => "window",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Program::Serve => "tillwatch serve",
            Program::Window => "the Tillwatch window",
        }
    }
}

/// The held lock: the file stays locked until this is dropped or the process ends.
#[derive(Debug)]
pub struct Ownership {
    _file: File,
    path: PathBuf,
}

impl Ownership {
    /// The lock file of the database at `database`.
    pub fn lock_path(database: &Path) -> PathBuf {
        let mut name = database.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Takes the database at `database` for this process, or says who has it. `actor` is
    /// the user and machine this process runs as ("ana@till-2").
    pub fn take(database: &Path, program: Program, actor: &str) -> Result<Self, OwnerError> {
        let path = Self::lock_path(database);
        let io = |e: std::io::Error| OwnerError::Io {
            path: path.clone(),
            detail: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // Not truncated on open: until the lock is ours, the holder's identity stays.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(OwnerError::Held {
                    database: database.to_path_buf(),
                    holder: Holder::read(&mut file),
                })
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let identity = Holder {
            program: Some(program.as_str().to_owned()),
            pid: Some(std::process::id()),
            actor: Some(actor.to_owned()),
            started: started_now(),
        };
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(identity.to_file().as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(Self { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why this process may not serve the database.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OwnerError {
    #[error(
        "the database {} is in use by {holder}; stop it first, or use a read command (lookup, orders, deliveries, export)",
        database.display()
    )]
    Held { database: PathBuf, holder: Holder },
    #[error("cannot lock {}: {detail}", path.display())]
    Io { path: PathBuf, detail: String },
}

/// Who holds the lock, as it wrote itself into the lock file. Every field is optional: the
/// holder may be between taking the lock and writing, or an older or newer Tillwatch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    pub program: Option<String>,
    pub pid: Option<u32>,
    pub actor: Option<String>,
    pub started: Option<String>,
}

impl Holder {
    fn to_file(&self) -> String {
        let mut out = String::new();
        let fields = [
            ("program", self.program.clone()),
            ("pid", self.pid.map(|p| p.to_string())),
            ("user", self.actor.clone()),
            ("started", self.started.clone()),
        ];
        for (key, value) in fields {
            if let Some(v) = value {
                out.push_str(&format!("{key}={v}\n"));
            }
        }
        out
    }

    /// What the lock file says; nothing when it cannot be read (Windows forbids reading a
    /// range another process has locked).
    fn read(file: &mut File) -> Self {
        let mut text = String::new();
        if file.read_to_string(&mut text).is_err() {
            return Self::default();
        }
        let mut holder = Self::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
            match key.trim() {
                "program" => holder.program = value,
                "pid" => holder.pid = value.and_then(|v| v.parse().ok()),
                "user" => holder.actor = value,
                "started" => holder.started = value,
                _ => {}
            }
        }
        holder
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let program = match self.program.as_deref() {
            Some("serve") => Program::Serve.describe(),
            Some("window") => Program::Window.describe(),
            _ => "another Tillwatch process",
        };
        f.write_str(program)?;
        let details: Vec<String> = [
            self.pid.map(|p| format!("pid {p}")),
            self.actor.as_ref().map(|a| format!("run by {a}")),
            self.started.as_ref().map(|s| format!("started {s}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !details.is_empty() {
            write!(f, " ({})", details.join(", "))?;
        }
        Ok(())
    }
}

fn started_now() -> Option<String> {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::now_utc().format(format).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tillwatch-owner-{name}-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        dir.join("demo.db")
    }

    #[test]
    fn a_second_owner_is_told_who_holds_the_file_until_it_lets_go() {
        let db = temp_db("second");
        let first = Ownership::take(&db, Program::Serve, "ana@till-2").unwrap();
        assert_eq!(first.path(), db.with_extension("db.lock"));

        let refused = Ownership::take(&db, Program::Window, "bo@till-3").unwrap_err();
        let said = refused.to_string();
        assert!(
            said.contains(&format!(
                "in use by tillwatch serve (pid {}, run by ana@till-2, started ",
                std::process::id()
            )),
            "{said}"
        );
        assert!(said.contains(&db.display().to_string()), "{said}");
        assert!(said.contains("stop it first"), "{said}");

        drop(first);
        let second = Ownership::take(&db, Program::Window, "bo@till-3").unwrap();
        let refused = Ownership::take(&db, Program::Serve, "ana@till-2").unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("in use by the Tillwatch window"),
            "{refused}"
        );
        drop(second);
        let _ = std::fs::remove_dir_all(db.parent().unwrap());
    }

    #[test]
    fn an_identity_it_cannot_read_still_names_a_holder() {
        assert_eq!(Holder::default().to_string(), "another Tillwatch process");
        let path = temp_db("read").with_extension("lock");
        let dir = path.parent().unwrap();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(&path, "program=serve\npid=notanumber\nnewfield=x\n").unwrap();
        let holder = Holder::read(&mut File::open(&path).unwrap());
        assert_eq!(holder.to_string(), "tillwatch serve");
        let _ = std::fs::remove_dir_all(dir);
    }
}
