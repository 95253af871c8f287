//! What a window on the shared database asks of it: "test connection", stage by stage,
//! against real servers (plain and TLS), and the `machines` record that says which
//! machine takes the notifications and when it last confirmed one.

use std::time::{Duration, Instant};

use tillwatch_core::domain::{ChangeSource, PaymentStatus};
use tillwatch_core::store::Held;
use tillwatch_core::store::{Confirmations, Inbox};
use tillwatch_store_postgres::{
    check_connection, migrations, ConnectionCheck, DatabaseConfig, PgStore, Role, Stage,
    PASSWORD_ENV,
};
use time::OffsetDateTime;

use crate::postgres::TestPostgres;

fn with_password(url: &str, password: &str) -> DatabaseConfig {
    let password = password.to_owned();
    DatabaseConfig::from_url_with_env(url, |name| (name == PASSWORD_ENV).then(|| password.clone()))
        .unwrap()
}

fn stages(check: &ConnectionCheck) -> Vec<(Stage, bool)> {
    check.stages.iter().map(|s| (s.stage, s.passed)).collect()
}

fn detail(check: &ConnectionCheck, stage: Stage) -> String {
    check
        .stage(stage)
        .map(|s| s.detail.clone())
        .unwrap_or_default()
}

fn all_words(check: &ConnectionCheck) -> String {
    check
        .stages
        .iter()
        .map(|s| s.detail.as_str())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[tokio::test]
async fn test_connection_says_how_far_it_got_on_a_plain_server() {
    let pg = TestPostgres::start();

    let right = check_connection(&with_password(&pg.url(), pg.password())).await;
    assert!(right.ok(), "{right:?}");
    assert_eq!(
        stages(&right),
        [
            (Stage::Reached, true),
            (Stage::Tls, true),
            (Stage::Authenticated, true),
            (Stage::Schema, true)
        ]
    );
    assert!(
        detail(&right, Stage::Reached).contains(&pg.port().to_string()),
        "{right:?}"
    );
    assert!(
        detail(&right, Stage::Tls).starts_with("off (sslmode=disable)"),
        "{right:?}"
    );
    assert_eq!(detail(&right, Stage::Authenticated), "as tillwatch");
    assert_eq!(right.schema_version, Some(0));
    assert!(
        detail(&right, Stage::Schema).contains("no tables yet"),
        "{right:?}"
    );
    assert!(!all_words(&right).contains(pg.password()));

    // Once a Tillwatch has started on it, the version it wrote.
    drop(
        PgStore::connect(with_password(&pg.url(), pg.password()))
            .await
            .unwrap(),
    );
    let migrated = check_connection(&with_password(&pg.url(), pg.password())).await;
    assert_eq!(migrated.schema_version, Some(migrations::latest()));
    assert_eq!(
        detail(&migrated, Stage::Schema),
        format!("version {}, up to date", migrations::latest())
    );

    let wrong = "tw-wrong-password-4711";
    let refused = check_connection(&with_password(&pg.url(), wrong)).await;
    assert!(!refused.ok());
    assert_eq!(
        stages(&refused),
        [
            (Stage::Reached, true),
            (Stage::Tls, true),
            (Stage::Authenticated, false)
        ]
    );
    assert!(
        detail(&refused, Stage::Authenticated).starts_with("authentication failed"),
        "{refused:?}"
    );
    let words = all_words(&refused);
    assert!(
        !words.contains(wrong) && !words.contains(pg.password()),
        "{words}"
    );

    let none =
        check_connection(&DatabaseConfig::from_url_with_env(&pg.url(), |_| None).unwrap()).await;
    assert_eq!(
        stages(&none).last(),
        Some(&(Stage::Authenticated, false)),
        "{none:?}"
    );
    assert!(
        detail(&none, Stage::Authenticated).contains("asks for a password"),
        "{none:?}"
    );

    let missing = check_connection(&with_password(&pg.url_for("no_such_db"), pg.password())).await;
    assert_eq!(stages(&missing).last(), Some(&(Stage::Schema, false)));
    assert!(detail(&missing, Stage::Schema).contains("no database 'no_such_db'"));
}

#[tokio::test]
async fn test_connection_with_nothing_listening_is_not_reached() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://tillwatch@127.0.0.1:{port}/tillwatch?sslmode=disable");
    let check = check_connection(&with_password(&url, "pw")).await;
    assert_eq!(stages(&check), [(Stage::Reached, false)]);
    assert!(
        detail(&check, Stage::Reached)
            .starts_with(&format!("nothing answered at 127.0.0.1:{port}")),
        "{check:?}"
    );
}

#[tokio::test]
async fn test_connection_reports_tls_on_and_verified_or_why_not() {
    let pg = TestPostgres::start_with_tls();
    let ca = pg.ca_file();
    let url = pg.url_with(&format!("sslmode=require&sslrootcert={}", ca.display()));
    let check = check_connection(&with_password(&url, pg.password())).await;
    assert!(check.ok(), "{check:?}");
    let tls = detail(&check, Stage::Tls);
    assert!(tls.starts_with("on (TLSv1."), "{tls}");
    assert!(tls.contains("certificate verified against"), "{tls}");

    // The same server, its CA not given: the certificate is not trusted, and it stops there.
    let untrusted = check_connection(&with_password(
        &pg.url_with("sslmode=require"),
        pg.password(),
    ))
    .await;
    assert_eq!(
        stages(&untrusted),
        [(Stage::Reached, true), (Stage::Tls, false)]
    );

    // A wrong password over TLS: encrypted, then refused.
    let refused = check_connection(&with_password(&url, "tw-not-it")).await;
    assert_eq!(
        stages(&refused),
        [
            (Stage::Reached, true),
            (Stage::Tls, true),
            (Stage::Authenticated, false)
        ]
    );
    assert!(detail(&refused, Stage::Tls).starts_with("on, certificate verified"));
}

async fn db_now(store: &PgStore) -> OffsetDateTime {
    store
        .pool()
        .get()
        .await
        .unwrap()
        .query_one("SELECT now()", &[])
        .await
        .unwrap()
        .get(0)
}

/// The serve's row appears when it starts, carries the time of its confirmation soon
/// after it confirms (by the database's clock), and says it stopped when it stops; a
/// window's row never claims a confirmation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serves_row_shows_when_it_last_confirmed_a_notification() {
    let pg = TestPostgres::start();
    let serve = crate::store::store(&pg).await;
    let window = crate::store::store(&pg).await;
    let (stop_serve, serve_stopped) = tokio::sync::oneshot::channel::<()>();
    let (stop_window, window_stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = {
        let serve = serve.clone();
        tokio::spawn(async move {
            serve
                .keep_presence(Role::Serve, async {
                    let _ = serve_stopped.await;
                })
                .await
        })
    };
    let watching = {
        let window = window.clone();
        tokio::spawn(async move {
            window
                .keep_presence(Role::Window, async {
                    let _ = window_stopped.await;
                })
                .await
        })
    };
    let seen = wait_machines(&window, "both processes", |m| m.len() == 2).await;
    let serve_row = seen.iter().find(|m| m.role == Role::Serve).unwrap();
    assert!(serve_row.is_alive(), "{serve_row:?}");
    assert_eq!(serve_row.last_confirmed_at, None, "nothing confirmed yet");
    assert!(!serve_row.machine.is_empty());

    // A notification, claimed and confirmed by the serve.
    let id = serve
        .record_delivery(crate::store::delivery("300", "3009"))
        .await
        .unwrap();
    let claim = crate::store::claim(60);
    serve
        .claim_due(&claim, tillwatch_core::domain::Timestamp::now(), 10)
        .await
        .unwrap();
    let before = db_now(&serve).await;
    serve
        .apply_snapshot(
            crate::store::snapshot("300", PaymentStatus::Paid, "2026-03-01T10:00:00Z", "M-1"),
            ChangeSource::Notification,
            None,
            Some(Held {
                job_ref: crate::store::job("300"),
                payment_ref: crate::store::payment("3009"),
                up_to_id: id,
                worker: claim.worker.clone(),
            }),
        )
        .await
        .unwrap();
    let after = db_now(&serve).await;
    let seen = wait_machines(&window, "the serve's confirmation", |m| {
        m.iter()
            .any(|m| m.role == Role::Serve && m.last_confirmed_at.is_some())
    })
    .await;
    let serve_row = seen.iter().find(|m| m.role == Role::Serve).unwrap();
    let confirmed = serve_row.last_confirmed_at.unwrap();
    // Written as "now() - how long ago": within the confirmation's own span, give or take
    // the rounding of that interval.
    let slack = time::Duration::milliseconds(50);
    assert!(
        confirmed >= before - slack && confirmed <= after + slack,
        "{before} <= {confirmed} <= {after}"
    );
    let window_row = seen.iter().find(|m| m.role == Role::Window).unwrap();
    assert_eq!(window_row.last_confirmed_at, None);

    stop_serve.send(()).unwrap();
    serving.await.unwrap();
    let seen = wait_machines(&window, "the serve marked stopped", |m| {
        m.iter().any(|m| m.role == Role::Serve && m.stopped)
    })
    .await;
    let serve_row = seen.iter().find(|m| m.role == Role::Serve).unwrap();
    assert!(!serve_row.is_alive());
    assert_eq!(
        serve_row.last_confirmed_at,
        Some(confirmed),
        "kept after it stopped"
    );
    stop_window.send(()).unwrap();
    watching.await.unwrap();
}

async fn wait_machines(
    store: &PgStore,
    what: &str,
    done: impl Fn(&[tillwatch_store_postgres::MachineSeen]) -> bool,
) -> Vec<tillwatch_store_postgres::MachineSeen> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = store.machines().await.unwrap();
        if done(&seen) {
            return seen;
        }
        assert!(Instant::now() < deadline, "never saw {what}: {seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
