//! A real, throwaway PostgreSQL server per test: `initdb` into a temporary folder and
//! `pg_ctl` on a free loopback port, removed when dropped. Shared by the test binaries
//! (`#[path = "../common/postgres.rs"] mod postgres;`); std only.
//!
//! The server asks for a password (scram-sha-256, as a real one would), so tests connect
//! with the password given the way Tillwatch takes it (the environment), not in the URL.
//! PostgreSQL refuses to run as root; as root (CI), the server runs as the `postgres` user
//! the Debian package creates, through `runuser`.

#![allow(dead_code)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// The superuser the server is made with (and the database it connects to by default).
pub const USER: &str = "tillwatch";

pub struct TestPostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    password: String,
    /// Root runs the server's commands as this user.
    run_as: Option<&'static str>,
    tls: bool,
    running: bool,
}

impl TestPostgres {
    /// Makes and starts a new server (no TLS). Panics, saying what to do, when PostgreSQL
    /// is not installed or the server will not start.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// A server that also offers TLS, with a certificate for 127.0.0.1 and localhost signed
    /// by a throwaway CA (`ca_file()`), made with the `openssl` command.
    pub fn start_with_tls() -> Self {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let bin = find_bin_dir();
        let run_as = is_root().then_some("postgres");
        let dir = std::env::temp_dir().join(format!(
            "tillwatch-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let password = format!("tw-{:016x}", RandomState::new().build_hasher().finish());
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, &password).expect("the password file");
        if tls {
            make_certificates(&dir);
        }
        if let Some(user) = run_as {
            let owner = format!("{user}:");
            run(
                Command::new("chown").args(["-R", &owner]).arg(&dir),
                "chown",
            );
        }

        let mut pg = Self {
            dir,
            bin,
            port: 0,
            password,
            run_as,
            tls,
            running: false,
        };
        let mut initdb = pg.command("initdb");
        pg.run_checked(
            initdb
                .arg("-D")
                .arg(pg.data())
                .args(["-U", USER, "--auth=scram-sha-256", "--no-sync"])
                .args(["--encoding=UTF8", "--no-locale", "--no-instructions"])
                .arg(format!("--pwfile={}", pwfile.display())),
            "initdb",
        );
        let _ = std::fs::remove_file(&pwfile);

        // A free port is found by binding port 0 and letting it go; another process may
        // take it before the server does, so a failed bind is retried on a new port.
        for attempt in 1..=5 {
            pg.port = free_port();
            match pg.try_start() {
                Ok(()) => {
                    // The database the URL names (initdb makes only `postgres`).
                    pg.create_database(USER);
                    return pg;
                }
                Err(log) if attempt < 5 && log.contains("could not bind") => continue,
                Err(log) => panic!("PostgreSQL did not start:\n{log}"),
            }
        }
        unreachable!()
    }

    /// `postgres://tillwatch@127.0.0.1:PORT/tillwatch?sslmode=disable`: no password in it.
    pub fn url(&self) -> String {
        self.url_with("sslmode=disable")
    }

    /// The URL with other parameters, e.g. `sslmode=require`.
    pub fn url_with(&self, params: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{USER}?{params}", self.port)
    }

    /// A URL naming another database on this server.
    pub fn url_for(&self, dbname: &str) -> String {
        format!(
            "postgres://{USER}@127.0.0.1:{}/{dbname}?sslmode=disable",
            self.port
        )
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA that signed the server's certificate (a TLS server only).
    pub fn ca_file(&self) -> PathBuf {
        assert!(self.tls, "a server started with start_with_tls");
        self.dir.join("ca.crt")
    }

    /// Creates an empty database (tests that want several on one server).
    pub fn create_database(&self, name: &str) {
        let out = Command::new(self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                USER,
                name,
            ])
            .env("PGPASSWORD", &self.password)
            .output()
            .expect("createdb runs");
        assert!(out.status.success(), "createdb {name}: {}", text(&out));
    }

    /// Keeps the server for the rest of this test process (one server shared by a whole
    /// test binary) and stops and removes it when the process ends, however it ends: a
    /// watchdog shell waits for this process to go, then does what `Drop` would.
    pub fn keep_until_this_process_exits(mut self) -> Shared {
        let stop = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {pg_ctl} -D {data} -m immediate -w stop; rm -rf {dir}",
            pid = std::process::id(),
            pg_ctl = match self.run_as {
                Some(user) => format!("runuser -u {user} -- {}", self.bin.join("pg_ctl").display()),
                None => self.bin.join("pg_ctl").display().to_string(),
            },
            data = self.data().display(),
            dir = self.dir.display(),
        );
        // Never waited for: it is meant to outlive this process.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .args(["-c", &stop])
            .current_dir(&self.dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the watchdog shell starts");
        let shared = Shared {
            port: self.port,
            password: self.password.clone(),
            bin: self.bin.clone(),
            next: AtomicU32::new(0),
        };
        // The watchdog stops and removes it; Drop must not.
        self.running = false;
        self.dir = PathBuf::new();
        shared
    }

    /// Stops the server as an administrator would (fast shutdown: clients are told and
    /// disconnected). The folder and port are kept for `start_again`.
    pub fn stop(&mut self) {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"]);
        self.run_checked(&mut stop, "pg_ctl stop");
        self.running = false;
    }

    /// Starts the stopped server again on the same folder and port.
    pub fn start_again(&mut self) {
        if let Err(log) = self.try_start() {
            panic!(
                "PostgreSQL did not start again on port {}:\n{log}",
                self.port
            );
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn try_start(&mut self) -> Result<(), String> {
        let log = self.dir.join("server.log");
        let _ = std::fs::remove_file(&log);
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB \
             -c max_connections=200",
            self.port,
            self.dir.display()
        );
        if self.tls {
            let dir = self.dir.display();
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key"
            ));
        }
        let mut start = self.command("pg_ctl");
        start
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "30", "-o", &options, "start"]);
        let out = start.output().expect("pg_ctl runs");
        if !out.status.success() {
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("{}\n{server_log}", text(&out)));
        }
        self.running = true;
        let ready = Command::new(self.bin.join("pg_isready"))
            .args([
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-t",
                "10",
            ])
            .status()
            .expect("pg_isready runs");
        assert!(
            ready.success(),
            "PostgreSQL started but does not answer on {}",
            self.port
        );
        Ok(())
    }

    /// One of the server's commands, as the `postgres` user when we are root.
    fn command(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        let mut command = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        // The server's user may not be able to enter the test's working folder.
        command.current_dir(&self.dir);
        command
    }

    fn run_checked(&self, command: &mut Command, what: &str) {
        let out = command
            .output()
            .unwrap_or_else(|e| panic!("{what} could not run: {e}"));
        assert!(out.status.success(), "{what} failed:\n{}", text(&out));
    }
}

/// A server kept for a whole test binary: a fresh database for each test.
pub struct Shared {
    port: u16,
    password: String,
    bin: PathBuf,
    next: AtomicU32,
}

impl Shared {
    /// A new, empty database on the shared server; its URL (no password).
    pub fn fresh_database(&self) -> String {
        let name = format!("t{}", self.next.fetch_add(1, Ordering::Relaxed));
        let out = Command::new(self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                USER,
                &name,
            ])
            .env("PGPASSWORD", &self.password)
            .output()
            .expect("createdb runs");
        assert!(out.status.success(), "createdb {name}: {}", text(&out));
        format!(
            "postgres://{USER}@127.0.0.1:{}/{name}?sslmode=disable",
            self.port
        )
    }

    pub fn password(&self) -> &str {
        &self.password
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if self.running {
            // Immediate: nothing of a throwaway server is worth a clean shutdown.
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Debian's `/usr/lib/postgresql/<version>/bin` (the highest version), else `initdb` on PATH.
fn find_bin_dir() -> PathBuf {
    let has_tools = |dir: &Path| {
        ["initdb", "pg_ctl", "pg_isready"]
            .iter()
            .all(|t| dir.join(t).is_file())
    };
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_tools(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| has_tools(dir));
    on_path.unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no initdb, pg_ctl and pg_isready in \
             /usr/lib/postgresql/*/bin or on PATH): run scripts/setup.sh, which installs \
             the Debian package postgresql"
        )
    })
}

/// A CA and a server certificate it signs, for 127.0.0.1 and localhost (P-256 keys: quick
/// to make). The server's key must be private to its owner or PostgreSQL refuses it.
fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("openssl could not run ({e}): run scripts/setup.sh"));
        assert!(
            out.status.success(),
            "openssl {args:?} failed:\n{}",
            text(&out)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &[
                "req",
                "-x509",
                "-days",
                "2",
                "-subj",
                "/CN=tillwatch test CA",
            ][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.crt"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req", "-subj", "/CN=localhost"][..],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr"],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("the certificate's extensions");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ]);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("the key's permissions");
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    match std::fs::metadata("/proc/self") {
        Ok(meta) => meta.uid() == 0,
        Err(_) => Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn run(command: &mut Command, what: &str) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what} could not run: {e}"));
    assert!(out.status.success(), "{what} failed:\n{}", text(&out));
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
