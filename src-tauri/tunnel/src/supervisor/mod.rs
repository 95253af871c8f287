//! The supervisor: opens the tunnel through a provider, proves it reachable, watches it,
//! and reconnects on its own capped, jittered schedule.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

mod handle;

use super::probe::{probe, probe_client};
use super::state::{TunnelEvent, TunnelState, UrlChange};
use super::{
    normalise_base_url, ConnectRequest, TunnelError, TunnelErrorKind, TunnelProvider, TunnelSession,
};
use handle::lock;
pub use handle::TunnelHandle;
use tillwatch_core::domain::Timestamp;
use tillwatch_core::listener::ProbeBook;

/// Waits between reconnection attempts: the ceiling doubles from `base` up to `cap`, and
/// each wait is drawn uniformly below it ("full jitter"), so many machines that lost the
/// same relay do not all come back at the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The longest wait after `failures` consecutive failures (1 = the first).
    pub fn ceiling(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.base
            .saturating_mul(1u32 << doublings)
            .min(self.cap)
            .max(Duration::from_millis(1))
    }

    /// A wait drawn uniformly from `[ceiling / 10, ceiling]` (the small floor keeps a
    /// broken provider from being hammered in a tight loop).
    pub fn delay(&self, failures: u32) -> Duration {
        let ceiling = self.ceiling(failures);
        let hi = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(fastrand::u64(hi / 10..=hi))
    }
}

/// How the supervisor behaves. `new` gives the production values.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// Where the listener listens on this machine.
    pub local: SocketAddr,
    /// The webhook path (with the secret segment, if any): `listener::webhook_path`.
    pub webhook_path: String,
    /// Where the last public base URL is kept across restarts (a small text file in the
    /// data folder), so a changed URL is noticed even after a restart.
    pub url_file: Option<PathBuf>,
    /// Longest wait for a provider to open the tunnel.
    pub connect_timeout: Duration,
    pub backoff: Backoff,
    /// Time between end-to-end probes while up.
    pub probe_every: Duration,
    /// Longest wait for one probe's answer.
    pub probe_timeout: Duration,
    /// Consecutive failed probes that count as down (then the tunnel is reopened).
    pub probe_failures: u32,
    /// A wall-clock jump this much beyond the monotonic clock between two probes means
    /// the computer slept.
    pub sleep_threshold: Duration,
}

impl SupervisorConfig {
    pub fn new(local: SocketAddr, webhook_path: impl Into<String>) -> Self {
        Self {
            local,
            webhook_path: webhook_path.into(),
            url_file: None,
            connect_timeout: Duration::from_secs(20),
            backoff: Backoff::default(),
            probe_every: Duration::from_secs(20),
            probe_timeout: Duration::from_secs(10),
            probe_failures: 2,
            sleep_threshold: Duration::from_secs(15),
        }
    }
}

/// What the supervisor needs from the rest of the app.
#[derive(Clone)]
pub struct SupervisorHooks {
    /// The listener's probe book (`Tillwatch::probe_book`): probes count only if the
    /// listener that saw them is wrapped with this book.
    pub probes: ProbeBook,
    /// Asks the reconciler for a pass at once (`Tillwatch::reconcile_trigger`).
    pub reconcile_now: Arc<dyn Fn() + Send + Sync>,
}

impl SupervisorHooks {
    /// The hooks of one running app: its listener's probe book and its reconciler.
    pub fn for_app<S: tillwatch_core::store::Store>(
        app: &tillwatch_core::app::Tillwatch<S>,
    ) -> Self {
        Self {
            probes: app.probe_book().clone(),
            reconcile_now: app.reconcile_trigger(),
        }
    }
}

/// Keeps one provider's tunnel up. Build it, take a `handle()` (subscribe before any
/// event can be missed), then `spawn()`.
pub struct TunnelSupervisor {
    provider: Arc<dyn TunnelProvider>,
    cfg: SupervisorConfig,
    hooks: SupervisorHooks,
    handle: TunnelHandle,
    http: reqwest::Client,
}

/// How holding an open tunnel ended.
enum Held {
    Stopped,
    Lost { error: TunnelError, was_up: bool },
}

impl TunnelSupervisor {
    pub fn new(
        provider: Arc<dyn TunnelProvider>,
        cfg: SupervisorConfig,
        hooks: SupervisorHooks,
    ) -> Self {
        let handle = TunnelHandle::with_state(TunnelState::Connecting {
            provider: provider.name().to_owned(),
            attempt: 1,
            public_url: None,
            since: Timestamp::now(),
        });
        Self {
            provider,
            cfg,
            hooks,
            handle,
            http: probe_client(),
        }
    }

    pub fn handle(&self) -> TunnelHandle {
        self.handle.clone()
    }

    /// Runs on the current tokio runtime until `TunnelHandle::shutdown`.
    pub fn spawn(self) -> TunnelHandle {
        let handle = self.handle.clone();
        let task = tokio::spawn(self.run());
        *lock(&handle.shared.task) = Some(task);
        handle
    }

    async fn run(self) {
        let name = self.provider.name().to_owned();
        let mut stop = self.handle.shared.stop.subscribe();
        let mut last_url = self.read_url_file();
        // Consecutive failures since the tunnel was last up.
        let mut failures: u32 = 0;
        let mut down_since: Option<Timestamp> = None;
        loop {
            self.handle.publish(TunnelState::Connecting {
                provider: name.clone(),
                attempt: failures + 1,
                public_url: None,
                since: Timestamp::now(),
            });
            let request = ConnectRequest {
                local: self.cfg.local,
                last_url: last_url.clone(),
            };
            let connecting =
                tokio::time::timeout(self.cfg.connect_timeout, self.provider.connect(request));
            let connected = tokio::select! {
                _ = stopped(&mut stop) => break,
                connected = connecting => connected,
            };
            let error = match connected {
                Err(_) => TunnelError::new(
                    TunnelErrorKind::TimedOut,
                    format!(
                        "{name} did not open the tunnel within {} s. Notifications cannot arrive until it does.",
                        self.cfg.connect_timeout.as_secs().max(1)
                    ),
                ),
                Ok(Err(e)) => e,
                Ok(Ok(session)) => {
                    match self.hold(session, &mut last_url, failures + 1, &mut stop).await {
                        Held::Stopped => break,
                        Held::Lost { error, was_up } => {
                            if was_up {
                                failures = 0;
                                down_since = None;
                            }
                            error
                        }
                    }
                }
            };
            failures = failures.saturating_add(1);
            let since = *down_since.get_or_insert_with(Timestamp::now);
            let wait = self.cfg.backoff.delay(failures);
            let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            self.handle.publish(TunnelState::Down {
                provider: name.clone(),
                reason: error.message.clone(),
                kind: error.kind,
                since,
                retry_in_ms: wait_ms,
                retry_at: Timestamp::from_unix_millis(
                    Timestamp::now()
                        .unix_millis()
                        .saturating_add(wait_ms as i64),
                ),
            });
            tokio::select! {
                _ = stopped(&mut stop) => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        self.handle.publish(TunnelState::Stopped);
    }

    /// Proves an opened tunnel reachable, announces it, then watches it until it is lost
    /// or the supervisor stops. The session is dropped (the tunnel closed) on return.
    async fn hold(
        &self,
        mut session: Box<dyn TunnelSession>,
        last_url: &mut Option<String>,
        attempt: u32,
        stop: &mut watch::Receiver<bool>,
    ) -> Held {
        let name = self.provider.name().to_owned();
        let public_url = session.public_url().trim_end_matches('/').to_owned();
        let webhook_url = format!("{public_url}{}", self.cfg.webhook_path);
        self.handle.publish(TunnelState::Connecting {
            provider: name.clone(),
            attempt,
            public_url: Some(public_url.clone()),
            since: Timestamp::now(),
        });

        // Up means proven: a request through the public URL reached this listener.
        let mut failed = 0;
        loop {
            let result = tokio::select! {
                _ = stopped(stop) => return Held::Stopped,
                error = session.ended() => return Held::Lost { error, was_up: false },
                r = probe(&self.http, &webhook_url, &self.hooks.probes, self.cfg.probe_timeout) => r,
            };
            match result {
                Ok(()) => break,
                Err(e) => {
                    failed += 1;
                    tracing::info!("tunnel probe failed ({failed}): {e}");
                    if failed >= self.cfg.probe_failures.max(1) {
                        return Held::Lost {
                            error: TunnelError::new(
                                TunnelErrorKind::ProbeFailed,
                                format!(
                                    "{name} opened {public_url}, but {e}. Notifications cannot arrive."
                                ),
                            ),
                            was_up: false,
                        };
                    }
                }
            }
            tokio::select! {
                _ = stopped(stop) => return Held::Stopped,
                error = session.ended() => return Held::Lost { error, was_up: false },
                _ = tokio::time::sleep(self.cfg.probe_every) => {}
            }
        }

        // Announce a new address before "up", so whoever sees "up" has seen it.
        if last_url.as_deref() != Some(public_url.as_str()) {
            let previous = last_url
                .as_deref()
                .map(|u| format!("{u}{}", self.cfg.webhook_path));
            self.handle.emit(TunnelEvent::UrlChanged(UrlChange::new(
                previous,
                &public_url,
                &webhook_url,
                session.notice().as_deref(),
            )));
            self.write_url_file(&public_url);
            *last_url = Some(public_url.clone());
        }
        self.handle.publish(TunnelState::Up {
            provider: name.clone(),
            public_url: public_url.clone(),
            webhook_url: webhook_url.clone(),
            since: Timestamp::now(),
        });
        // Notifications may have gone to an address that did not answer meanwhile.
        (self.hooks.reconcile_now)();

        let mut failed = 0;
        let mut wall = SystemTime::now();
        let mut mono = Instant::now();
        loop {
            tokio::select! {
                _ = stopped(stop) => return Held::Stopped,
                error = session.ended() => return Held::Lost { error, was_up: true },
                _ = tokio::time::sleep(self.cfg.probe_every) => {}
            }
            let (wall_now, mono_now) = (SystemTime::now(), Instant::now());
            let wall_elapsed = wall_now.duration_since(wall).unwrap_or_default();
            if let Some(slept) = slept_for(wall_elapsed, mono_now - mono, self.cfg.sleep_threshold)
            {
                tracing::info!("woke after about {} s asleep", slept.as_secs());
                self.handle.emit(TunnelEvent::WokeUp {
                    slept_ms: u64::try_from(slept.as_millis()).unwrap_or(u64::MAX),
                    at: Timestamp::now(),
                });
                (self.hooks.reconcile_now)();
            }
            (wall, mono) = (wall_now, mono_now);

            let result = tokio::select! {
                _ = stopped(stop) => return Held::Stopped,
                error = session.ended() => return Held::Lost { error, was_up: true },
                r = probe(&self.http, &webhook_url, &self.hooks.probes, self.cfg.probe_timeout) => r,
            };
            match result {
                Ok(()) => failed = 0,
                Err(e) => {
                    failed += 1;
                    tracing::info!("tunnel probe failed ({failed}): {e}");
                    if failed >= self.cfg.probe_failures.max(1) {
                        return Held::Lost {
                            error: TunnelError::new(
                                TunnelErrorKind::ProbeFailed,
                                format!(
                                    "The tunnel stopped carrying requests: {e}. \
                                     Notifications cannot arrive until it is reopened."
                                ),
                            ),
                            was_up: true,
                        };
                    }
                }
            }
        }
    }

    fn read_url_file(&self) -> Option<String> {
        let path = self.cfg.url_file.as_ref()?;
        let text = std::fs::read_to_string(path).ok()?;
        normalise_base_url(text.trim()).ok()
    }

    fn write_url_file(&self, url: &str) {
        let Some(path) = &self.cfg.url_file else {
            return;
        };
        let tmp = path.with_extension("tmp");
        let written =
            std::fs::write(&tmp, format!("{url}\n")).and_then(|_| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot remember the public URL");
        }
    }
}

/// How long the computer slept between two readings, if the wall clock moved more than
/// `threshold` beyond the monotonic clock (which stands still during sleep).
pub(crate) fn slept_for(
    wall_elapsed: Duration,
    mono_elapsed: Duration,
    threshold: Duration,
) -> Option<Duration> {
    let gap = wall_elapsed.saturating_sub(mono_elapsed);
    (gap > threshold).then_some(gap)
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // A dropped sender (handle gone) also means stop.
    let _ = stop.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_never_waits_longer() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(1), Duration::from_secs(1));
        assert_eq!(b.ceiling(2), Duration::from_secs(2));
        assert_eq!(b.ceiling(6), Duration::from_secs(32));
        assert_eq!(b.ceiling(7), Duration::from_secs(60));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(60));
        for failures in 1..200 {
            let d = b.delay(failures);
            assert!(d <= b.ceiling(failures), "{failures}: {d:?}");
            assert!(d >= b.ceiling(failures) / 10 - Duration::from_millis(1));
        }
    }

    #[test]
    fn backoff_is_jittered() {
        let b = Backoff::default();
        let draws: std::collections::HashSet<_> = (0..50).map(|_| b.delay(10)).collect();
        assert!(draws.len() > 10, "{draws:?}");
    }

    #[test]
    fn sleep_is_a_wall_clock_jump_past_the_monotonic_clock() {
        let t = Duration::from_secs(15);
        assert_eq!(
            slept_for(Duration::from_secs(20), Duration::from_secs(20), t),
            None
        );
        assert_eq!(
            slept_for(Duration::from_secs(620), Duration::from_secs(20), t),
            Some(Duration::from_secs(600))
        );
        // A wall clock set back is not a sleep.
        assert_eq!(slept_for(Duration::ZERO, Duration::from_secs(20), t), None);
    }
}
