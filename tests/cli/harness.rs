//! Driving the real `tillwatch` binary: temp dirs, `serve` as a child process (started,
//! SIGKILLed, restarted on the same port), one-shot CLI commands, a read-only look into
//! the SQLite file, the simulator in this process, and polling with deadlines.

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde_json::{json, Value};
use tillwatch::sim::{self, CreateJob, JobSnapshot, SimConfig, SimHandle};

pub use crate::test_dir::TestDir as TempDir;

/// How long any condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How often a condition is re-checked.
pub const POLL: Duration = Duration::from_millis(20);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tillwatch")
}

// ---------------------------------------------------------------------------------------
// Waiting

/// Re-checks `probe` every `POLL` until it yields a value; panics with `what` (and the
/// last probe's explanation) after `deadline`.
pub async fn poll_until<T>(
    what: &str,
    deadline: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match probe() {
            Ok(v) => return v,
            Err(why) => {
                if start.elapsed() > deadline {
                    panic!("timed out after {deadline:?} waiting for {what}; last seen: {why}");
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `SimHandle::wait_until` with a message instead of a bare timeout error.
pub async fn sim_wait(sim: &SimHandle, what: &str, predicate: impl FnMut(&SimHandle) -> bool) {
    if sim.wait_until(predicate, DEADLINE).await.is_err() {
        panic!(
            "timed out after {DEADLINE:?} waiting for the simulator: {what}; deliveries so far: {:#?}",
            sim.deliveries()
        );
    }
}

/// Runs blocking work (child processes, file scans) off the async workers.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("blocking work panicked")
}

// ---------------------------------------------------------------------------------------
// Temp dirs

// ---------------------------------------------------------------------------------------
// The simulator

/// Fast shoppers on a real-time clock: a notification is sent ~10 ms after `play`.
pub fn sim_config(api_key: &str) -> SimConfig {
    SimConfig {
        api_keys: vec![api_key.to_owned()],
        step_gap: Duration::from_millis(10),
        notify_timeout: Duration::from_secs(5),
        ..SimConfig::default()
    }
}

pub async fn start_sim(config: SimConfig) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the simulator");
    sim::start(listener, config)
        .await
        .expect("start the simulator")
}

pub fn new_job(
    sim: &SimHandle,
    order_number: &str,
    email: &str,
    amount: &str,
    webhook_url: Option<String>,
) -> JobSnapshot {
    sim.create_job(CreateJob {
        amount: amount.parse().expect("an amount"),
        currency: "GBP".into(),
        order_number: order_number.into(),
        email: email.into(),
        webhook_url,
    })
    .unwrap_or_else(|e| panic!("the simulator refused a job: {e:?}"))
}

/// Acknowledged delivery attempts the simulator recorded, per job reference.
pub fn acked_per_job(sim: &SimHandle) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for d in sim.deliveries().into_iter().filter(|d| d.acknowledged) {
        *out.entry(d.job_ref).or_insert(0) += 1;
    }
    out
}

/// The notification body the gateway sends.
pub fn notification(job_ref: &str, payment_ref: &str) -> Value {
    json!({
        "notifyType": "PaymentStatusChange",
        "paymentJobReference": job_ref,
        "paymentReference": payment_ref,
    })
}

// ---------------------------------------------------------------------------------------
// Environment shared by serve and the read commands

/// What the binary is told through its environment.
#[derive(Clone, Debug)]
pub struct Env {
    pub data_dir: PathBuf,
    pub gateway: String,
    pub configuration_id: String,
    pub api_key: String,
    pub log: String,
    /// More variables for every command (a shared database's URL and password).
    pub extra_env: Vec<(String, String)>,
}

impl Env {
    pub fn for_sim(sim: &SimHandle, data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            gateway: sim.base_url(),
            configuration_id: sim.config().configuration_id.clone(),
            api_key: sim.config().api_keys[0].clone(),
            log: "info".into(),
            extra_env: Vec::new(),
        }
    }

    /// With a custom gateway URL the database is `custom.db`.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("custom.db")
    }

    pub fn db(&self) -> Db {
        Db(self.db_path())
    }

    /// A command with a clean environment: nothing leaks in from the developer's shell.
    pub fn command(&self) -> Command {
        let mut c = Command::new(bin());
        c.env_clear()
            .env("TILLWATCH_DATA_DIR", &self.data_dir)
            .env("TILLWATCH_GATEWAY", &self.gateway)
            .env("TILLWATCH_CONFIGURATION_ID", &self.configuration_id)
            .env("TILLWATCH_API_KEY", &self.api_key)
            .env("TILLWATCH_LOG", &self.log)
            .env("NO_COLOR", "1")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        c
    }
}

// ---------------------------------------------------------------------------------------
// One-shot commands

#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// Asserts success and parses stdout as JSON.
    pub fn json(&self) -> Value {
        assert!(self.ok(), "command failed: {self}");
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status.code(),
            self.stdout,
            self.stderr
        )
    }
}

/// Runs `tillwatch ARGS` to completion.
pub async fn cli(env: &Env, args: &[&str]) -> Output {
    let mut c = env.command();
    c.args(args);
    run(c).await
}

/// Runs `tillwatch ARGS` with the environment adjusted by `edit`.
pub async fn cli_with(env: &Env, args: &[&str], edit: impl FnOnce(&mut Command)) -> Output {
    let mut c = env.command();
    c.args(args);
    edit(&mut c);
    run(c).await
}

async fn run(mut c: Command) -> Output {
    blocking(move || {
        let out = c.output().expect("run tillwatch");
        Output {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------
// serve

/// A running `tillwatch serve`, killed (SIGKILL) on drop.
pub struct Serve {
    env: Env,
    reconcile_every: u64,
    /// More arguments after `serve`'s own.
    extra_args: Vec<String>,
    child: Option<Child>,
    pub addr: SocketAddr,
    /// Everything every incarnation printed, in order.
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    /// Starts serve on a free loopback port and waits for `listening on ADDR`.
    pub async fn start(env: &Env, reconcile_every: u64) -> Serve {
        Self::start_with(env, reconcile_every, &[]).await
    }

    /// `start`, with more arguments for `serve` (e.g. `--claim-lease 3`).
    pub async fn start_with(env: &Env, reconcile_every: u64, extra_args: &[&str]) -> Serve {
        let mut s = Serve {
            env: env.clone(),
            reconcile_every,
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            child: None,
            addr: "127.0.0.1:0".parse().expect("an address"),
            stdout: Arc::default(),
            stderr: Arc::default(),
        };
        s.spawn().await;
        s
    }

    /// Where the gateway must post: the same across restarts.
    pub fn webhook_url(&self) -> String {
        format!("http://{}/webhooks/cashflows", self.addr)
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn logs(&self) -> String {
        format!(
            "--- serve stdout\n{}\n--- serve stderr\n{}",
            self.stdout(),
            self.stderr()
        )
    }

    /// The current incarnation's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the current incarnation is alive.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL (what `Child::kill` sends on unix) and reap: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the current incarnation if any and starts a new one on the same address, so
    /// the webhook URL the gateway holds stays valid.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    async fn spawn(&mut self) {
        // After a SIGKILL the port is free again at once (SO_REUSEADDR), but give a racing
        // bind a few chances rather than failing on the first refusal.
        let start = Instant::now();
        loop {
            match self.try_spawn().await {
                Ok(addr) => {
                    self.addr = addr;
                    return;
                }
                Err(why) if self.addr.port() != 0 && start.elapsed() < DEADLINE => {
                    eprintln!("serve did not start on {} yet ({why}); retrying", self.addr);
                    tokio::time::sleep(POLL).await;
                }
                Err(why) => panic!("serve did not start: {why}\n{}", self.logs()),
            }
        }
    }

    async fn try_spawn(&mut self) -> Result<SocketAddr, String> {
        let mut c = self.env.command();
        c.args([
            "serve",
            "--listen",
            &self.addr.to_string(),
            "--reconcile-every",
            &self.reconcile_every.to_string(),
        ])
        .args(&self.extra_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = c.spawn().map_err(|e| format!("cannot spawn: {e}"))?;

        let (tx, rx) = mpsc::channel::<SocketAddr>();
        let out = child.stdout.take().expect("piped stdout");
        let sink = Arc::clone(&self.stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on ") {
                    if let Ok(a) = addr.trim().parse() {
                        let _ = tx.send(a);
                    }
                }
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&self.stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match err.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
        });

        let start = Instant::now();
        loop {
            if let Ok(addr) = rx.try_recv() {
                self.child = Some(child);
                return Ok(addr);
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("serve exited with {status} before listening"));
            }
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no `listening on` line within {DEADLINE:?}"));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------
// The database, read-only

/// The serve database, opened read-only for each look.
pub struct Db(pub PathBuf);

impl Db {
    fn open(&self) -> Result<Connection, String> {
        if !self.0.exists() {
            return Err(format!("{} does not exist yet", self.0.display()));
        }
        let c = Connection::open_with_flags(
            &self.0,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| format!("open {}: {e}", self.0.display()))?;
        c.busy_timeout(Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        Ok(c)
    }

    /// The order's status, `None` if there is no order row.
    pub fn order_status(&self, job_ref: &str) -> Result<Option<String>, String> {
        let c = self.open()?;
        c.query_row(
            "SELECT status FROM payment_jobs WHERE job_ref = ?1",
            [job_ref],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| e.to_string())
    }

    /// (payment_ref, state, response_status) of every delivery of a job, oldest first.
    pub fn deliveries(&self, job_ref: &str) -> Result<Vec<(String, String, i64)>, String> {
        let c = self.open()?;
        let mut stmt = c
            .prepare(
                "SELECT payment_ref, state, response_status FROM deliveries
                 WHERE job_ref = ?1 ORDER BY id",
            )
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([job_ref], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    }

    /// A single integer from `sql`.
    pub fn count(&self, sql: &str) -> Result<i64, String> {
        let c = self.open()?;
        c.query_row(sql, [], |r| r.get(0))
            .map_err(|e| e.to_string())
    }

    /// A single text value from `sql` with one parameter; `None` for no row or NULL.
    pub fn text(&self, sql: &str, param: &str) -> Result<Option<String>, String> {
        let c = self.open()?;
        c.query_row(sql, [param], |r| r.get::<_, Option<String>>(0))
            .optional()
            .map(Option::flatten)
            .map_err(|e| e.to_string())
    }

    /// Ok once the job's order is Paid and none of its deliveries waits for confirmation.
    pub fn paid_and_settled(&self, job_ref: &str) -> Result<(), String> {
        let status = self.order_status(job_ref)?;
        let deliveries = self.deliveries(job_ref)?;
        let pending = deliveries.iter().filter(|d| d.1 == "pending").count();
        if status.as_deref() == Some("Paid") && pending == 0 && !deliveries.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "order {job_ref} status {status:?}, deliveries {deliveries:?}"
            ))
        }
    }
}

/// Waits for `fut`, failing with `what` after `DEADLINE`.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {DEADLINE:?}: {what}"))
}

// ---------------------------------------------------------------------------------------
// Privileges and mounts

/// Whether this process runs as root (read from /proc, no libc needed).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Runs a system command; Err carries its stderr.
pub fn system(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A filesystem mounted on a directory of its own; unmounted on drop. Declare it BEFORE
/// the `Serve` using it, so serve is killed first and the mount is no longer busy.
pub struct Mount {
    pub dir: PathBuf,
    mounted: bool,
    _parent: TempDir,
}

impl Mount {
    /// `mount -t tmpfs -o size=SIZE tmpfs DIR`.
    pub fn tmpfs(label: &str, size: &str) -> Result<Self, String> {
        let parent = TempDir::new(label);
        let dir = parent.path().join("mnt");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let dir_s = dir.to_string_lossy().into_owned();
        system(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                &dir_s,
            ],
        )?;
        Ok(Self {
            dir,
            mounted: true,
            _parent: parent,
        })
    }

    /// A fresh ext4 image on a loop device with `errors=remount-ro`.
    pub fn ext4(label: &str, megabytes: u64) -> Result<Self, String> {
        let parent = TempDir::new(label);
        let image = parent.path().join("disk.img");
        let dir = parent.path().join("mnt");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(megabytes * 1024 * 1024))
            .map_err(|e| format!("create the image: {e}"))?;
        let image_s = image.to_string_lossy().into_owned();
        system("mkfs.ext4", &["-q", "-F", &image_s])?;
        let mut m = Self {
            dir,
            mounted: false,
            _parent: parent,
        };
        m.mount_ext4(&image_s)?;
        Ok(m)
    }

    fn mount_ext4(&mut self, image: &str) -> Result<(), String> {
        let dir_s = self.dir.to_string_lossy().into_owned();
        system(
            "mount",
            &["-o", "loop,errors=remount-ro", "-t", "ext4", image, &dir_s],
        )?;
        self.mounted = true;
        Ok(())
    }

    /// Unmounts, checks and mounts the ext4 image again (what an owner does after the
    /// kernel turned a disk read-only). Serve must be stopped first.
    pub fn fsck_and_remount_ext4(&mut self) -> Result<(), String> {
        let image = self._parent.path().join("disk.img");
        let image_s = image.to_string_lossy().into_owned();
        self.unmount()?;
        // e2fsck exits 1 when it fixed something; only 4 and above are failures.
        let out = Command::new("e2fsck")
            .args(["-f", "-y", &image_s])
            .output()
            .map_err(|e| format!("cannot run e2fsck: {e}"))?;
        if out.status.code().is_none_or(|c| c >= 4) {
            return Err(format!(
                "e2fsck failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        self.mount_ext4(&image_s)
    }

    /// The block device's name, e.g. `loop3`, as in `/sys/fs/ext4/loop3`.
    pub fn device_name(&self) -> Result<String, String> {
        let mounts = std::fs::read_to_string("/proc/self/mounts").map_err(|e| e.to_string())?;
        let dir = self.dir.to_string_lossy();
        mounts
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                Some((f.next()?, f.next()?))
            })
            .filter(|(_, point)| *point == dir)
            .map(|(source, _)| source.rsplit('/').next().unwrap_or(source).to_owned())
            .next_back()
            .ok_or_else(|| format!("{dir} is not mounted"))
    }

    /// The mount's options as /proc/self/mounts shows them.
    pub fn options(&self) -> String {
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let dir = self.dir.to_string_lossy();
        mounts
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() > 3 && f[1] == dir).then(|| f[3].to_owned())
            })
            .next_back()
            .unwrap_or_default()
    }

    pub fn unmount(&mut self) -> Result<(), String> {
        if !self.mounted {
            return Ok(());
        }
        let dir_s = self.dir.to_string_lossy().into_owned();
        system("umount", &[&dir_s])?;
        self.mounted = false;
        Ok(())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.unmount().is_err() {
            // Still busy (a child not yet reaped): detach it anyway.
            let dir_s = self.dir.to_string_lossy().into_owned();
            if let Err(e) = system("umount", &["-l", &dir_s]) {
                eprintln!("could not unmount {dir_s}: {e}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// A network path that can vanish without closing

/// A TCP proxy on loopback in front of `upstream` whose path can go silent: `drop_path`
/// stops every byte in both directions while every socket stays open (a Wi-Fi change, a
/// NAT that forgot the flow), and `restore` lets new connections through again. A
/// connection opened before the restore stays black-holed for good, as one whose NAT
/// entry is gone does.
pub struct SilentProxy {
    pub port: u16,
    path: Arc<tokio::sync::watch::Sender<PathState>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone, Copy)]
struct PathState {
    open: bool,
    /// Bumped at each restore; a connection passes bytes only in the epoch it was made in.
    epoch: u64,
}

impl SilentProxy {
    pub async fn start(upstream: u16) -> SilentProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the proxy binds");
        let port = listener.local_addr().expect("an address").port();
        let (path, _) = tokio::sync::watch::channel(PathState {
            open: true,
            epoch: 0,
        });
        let path = Arc::new(path);
        let state = Arc::clone(&path);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let born = state.borrow().epoch;
                let rx = state.subscribe();
                connections.spawn(async move {
                    if passable(rx.clone(), born).await.is_none() {
                        // Accepted by the kernel, then silence: hold the socket open.
                        let _client = client;
                        return std::future::pending().await;
                    }
                    let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(pump(cr, sw, rx.clone(), born), pump(sr, cw, rx, born));
                });
            }
        });
        SilentProxy { port, path, task }
    }

    /// Every byte stops, both ways, on every connection; nothing is closed.
    pub fn drop_path(&self) {
        self.path.send_modify(|s| s.open = false);
    }

    /// New connections pass again; the ones made before stay silent.
    pub fn restore(&self) {
        self.path.send_modify(|s| {
            s.open = true;
            s.epoch += 1;
        });
    }
}

impl Drop for SilentProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until a connection made in `born` may pass bytes; `None` if it never will again.
async fn passable(mut rx: tokio::sync::watch::Receiver<PathState>, born: u64) -> Option<()> {
    let state = rx
        .wait_for(|s| (s.open && s.epoch == born) || s.epoch > born)
        .await
        .ok()?;
    (state.epoch == born).then_some(())
}

/// Copies bytes one way while the path passes them; when it goes silent, stops reading
/// and writing but keeps both sockets open (the task parks forever).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    rx: tokio::sync::watch::Receiver<PathState>,
    born: u64,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if passable(rx.clone(), born).await.is_none() {
            return std::future::pending().await;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Read while the path was open, but it went silent since: these bytes are lost.
        if passable(rx.clone(), born).await.is_none() {
            return std::future::pending().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
