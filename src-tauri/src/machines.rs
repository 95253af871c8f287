//! Which machine takes the notifications on a shared database, from its record of
//! machines (`tillwatch_store_postgres::MachineSeen`): what a window's health bar shows.

use tillwatch_store_postgres::{MachineSeen, Role};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::ipc::ServeSeen;

/// The serve to name: among those running, the one that confirmed most recently (then the
/// one seen last); when none runs, the one seen last, shown as not running. `None` when no
/// serve was ever seen on this database.
pub fn notifications_by(machines: &[MachineSeen]) -> Option<ServeSeen> {
    let serves: Vec<&MachineSeen> = machines.iter().filter(|m| m.role == Role::Serve).collect();
    let running: Vec<&MachineSeen> = serves.iter().copied().filter(|m| m.is_alive()).collect();
    let chosen = if running.is_empty() {
        serves.iter().max_by_key(|m| m.last_seen_at)?
    } else {
        running
            .iter()
            .max_by_key(|m| (m.last_confirmed_at, m.last_seen_at))?
    };
    Some(ServeSeen {
        machine: chosen.machine.clone(),
        online: chosen.is_alive(),
        last_seen_at: rfc3339(chosen.last_seen_at),
        last_confirmed_at: chosen.last_confirmed_at.map(rfc3339),
        other_serves: running.len().saturating_sub(1) as u32,
    })
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use time::macros::datetime;

    use super::*;

    fn seen(
        machine: &str,
        role: Role,
        ago_secs: u64,
        confirmed: Option<OffsetDateTime>,
    ) -> MachineSeen {
        let now = datetime!(2026-12-07 12:00:00 UTC);
        MachineSeen {
            id: format!("{machine}/1/0"),
            machine: machine.into(),
            role,
            started_at: now - Duration::from_secs(3600),
            last_seen_at: now - Duration::from_secs(ago_secs),
            last_confirmed_at: confirmed,
            stopped: false,
            seen_ago: Duration::from_secs(ago_secs),
        }
    }

    #[test]
    fn the_running_serve_that_confirmed_last_is_named() {
        let early = datetime!(2026-12-07 11:58:00 UTC);
        let late = datetime!(2026-12-07 11:59:30 UTC);
        let machines = [
            seen("counter", Role::Window, 1, None),
            seen("backroom", Role::Serve, 10, Some(early)),
            seen("server", Role::Serve, 20, Some(late)),
            // Gone (not seen for 10 minutes), though it confirmed later still.
            seen(
                "old-box",
                Role::Serve,
                600,
                Some(datetime!(2026-12-07 11:59:50 UTC)),
            ),
        ];
        let by = notifications_by(&machines).unwrap();
        assert_eq!(by.machine, "server");
        assert!(by.online);
        assert_eq!(
            by.last_confirmed_at.as_deref(),
            Some("2026-12-07T11:59:30Z")
        );
        assert_eq!(by.last_seen_at, "2026-12-07T11:59:40Z");
        assert_eq!(by.other_serves, 1);
    }

    #[test]
    fn with_no_serve_running_the_last_one_seen_is_named_as_stopped() {
        let mut stopped = seen("server", Role::Serve, 5, None);
        stopped.stopped = true;
        let machines = [seen("old", Role::Serve, 4000, None), stopped];
        let by = notifications_by(&machines).unwrap();
        assert_eq!(
            (by.machine.as_str(), by.online, by.other_serves),
            ("server", false, 0)
        );
        assert_eq!(by.last_confirmed_at, None);

        assert_eq!(
            notifications_by(&[seen("counter", Role::Window, 1, None)]),
            None
        );
        assert_eq!(notifications_by(&[]), None);
    }
}
