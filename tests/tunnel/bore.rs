//! A real bore relay on loopback between the simulator and the listener.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tillwatch_core::domain::{ChangeSource, DeliveryState, PaymentStatus, Timestamp};
use tillwatch_core::store::{Inbox, Orders};
use tillwatch_sim::Script;
use tillwatch_tunnel::{BoreProvider, TunnelErrorKind, TunnelEvent, TunnelState};

use crate::rig::{Relay, Rig, SilentProxy, BORE_CONTROL_PORT, RELAY_LOCK, WAIT, WEBHOOK_SECRET};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// A second loopback address, so a proxy can sit on the relay's fixed control port.
const LOOPBACK_2: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn bore(relay: IpAddr) -> Arc<BoreProvider> {
    Arc::new(BoreProvider::new(&relay.to_string(), None).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_through_a_real_bore_relay_is_acknowledged_and_confirmed() {
    let _one_at_a_time = RELAY_LOCK.lock().await;
    let relay = Relay::start(LOOPBACK, LOOPBACK).await;
    let rig = Rig::start("bore-e2e", bore(LOOPBACK), 100_000.0).await;

    let (public_url, webhook_url) = rig.wait_up().await;
    assert!(public_url.starts_with("http://127.0.0.1:"), "{public_url}");
    assert_ne!(
        public_url,
        format!("http://{}", rig.local),
        "the URL is the relay's"
    );
    assert_eq!(
        webhook_url,
        format!("{public_url}/webhooks/cashflows/{WEBHOOK_SECRET}")
    );
    assert_eq!(
        rig.tunnel.webhook_url().as_deref(),
        Some(webhook_url.as_str())
    );

    // The first address ever is announced with what to do in the portal, and remembered.
    let (_, first) = rig
        .wait_tunnel_event(0, "the first URL", |e| {
            matches!(e, TunnelEvent::UrlChanged(_))
        })
        .await;
    let TunnelEvent::UrlChanged(first) = first else {
        unreachable!()
    };
    assert_eq!(first.previous_webhook_url, None);
    assert_eq!(first.webhook_url, webhook_url);
    assert!(
        first.message.contains(&format!(
            "In the Cashflows portal, set the webhook URL to {webhook_url}"
        )),
        "{}",
        first.message
    );
    let remembered = std::fs::read_to_string(rig.dir.path().join("tunnel-url.txt")).unwrap();
    assert_eq!(remembered.trim(), public_url);

    // The simulator's notification goes to the PUBLIC address, through the relay.
    let job = rig.create_job("T-1", &webhook_url);
    rig.sim
        .play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    let series = rig.sim.wait_all_settled(1, WAIT).await.unwrap();
    let attempts: Vec<_> = rig
        .sim
        .deliveries()
        .into_iter()
        .filter(|d| d.series == series[0].series)
        .collect();
    assert_eq!(attempts.len(), 1, "{attempts:#?}");
    assert_eq!(attempts[0].url, webhook_url);
    assert_eq!(attempts[0].http_status, Some(200));
    assert!(attempts[0].acknowledged, "both references echoed");

    let order = rig
        .wait_order(&job.reference, "Paid and confirmed", |d| {
            d.summary.status == PaymentStatus::Paid
                && d.deliveries
                    .iter()
                    .all(|x| x.state == DeliveryState::Confirmed)
        })
        .await;
    assert_eq!(order.deliveries.len(), 1);
    assert_eq!(order.deliveries[0].response_status, 200);
    assert!(order
        .status_events
        .iter()
        .all(|e| e.source == ChangeSource::Notification));
    // The probes never reached the notification path.
    assert_eq!(rig.app.store().inbox_status().await.unwrap().0, 0);

    rig.stop().await;
    relay.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_public_url_only_the_webhook_route_answers() {
    let _one_at_a_time = RELAY_LOCK.lock().await;
    let relay = Relay::start(LOOPBACK, LOOPBACK).await;
    let rig = Rig::start("bore-surface", bore(LOOPBACK), 100_000.0).await;
    let (public_url, webhook_url) = rig.wait_up().await;

    use reqwest::Method;
    let cases = [
        (Method::GET, webhook_url.clone(), 405),
        (Method::PUT, webhook_url.clone(), 405),
        (Method::DELETE, webhook_url.clone(), 405),
        (Method::GET, format!("{public_url}/"), 404),
        (Method::GET, format!("{public_url}/webhooks/cashflows"), 404),
        (
            Method::POST,
            format!("{public_url}/webhooks/cashflows"),
            404,
        ),
        (
            Method::POST,
            format!("{public_url}/webhooks/cashflows/wrong-secret-0123456789"),
            404,
        ),
        (Method::POST, format!("{public_url}/admin"), 404),
        (Method::GET, format!("{public_url}/_sim/jobs"), 404),
        (Method::GET, format!("{public_url}/api/orders"), 404),
        (Method::OPTIONS, format!("{public_url}/"), 404),
    ];
    for (method, url, want) in cases {
        let got = rig
            .http
            .request(method.clone(), &url)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(got, want, "{method} {url}");
    }
    // A POST to the webhook route is the one thing that is answered with 200 (the body
    // names references the gateway does not know, so nothing is believed).
    let ok = rig
        .http
        .post(&webhook_url)
        .json(&serde_json::json!({"paymentJobReference": "1", "paymentReference": "2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);

    rig.stop().await;
    relay.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_relay_is_down_at_once_and_a_restarted_one_is_up_on_the_same_url_and_reconciled() {
    let _one_at_a_time = RELAY_LOCK.lock().await;
    let relay = Relay::start(LOOPBACK, LOOPBACK).await;
    // Real-time gateway clock: its next retry would be a minute away, so only the
    // reconciliation can catch the payment whose notification is lost below.
    let mut rig = Rig::start("bore-restart", bore(LOOPBACK), 1.0).await;
    let (_, webhook_url) = rig.wait_up().await;

    // An order the app knows as Pending (its first notification arrived).
    let job = rig.create_job("T-2", &webhook_url);
    let notified = rig
        .http
        .post(&webhook_url)
        .json(&serde_json::json!({
            "paymentJobReference": job.reference,
            "paymentReference": job.payment_reference,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(notified.status().as_u16(), 200);
    rig.wait_order(&job.reference, "known", |_| true).await;

    let killed = rig.mark();
    relay.kill().await;
    let (_, down) = rig
        .wait_tunnel_state(killed, "down", TunnelState::is_down)
        .await;
    let TunnelState::Down { kind, reason, .. } = &down else {
        unreachable!()
    };
    assert_eq!(
        *kind,
        TunnelErrorKind::Ended,
        "the provider noticed: {reason}"
    );
    assert!(reason.contains("Notifications cannot arrive"), "{reason}");

    // The shopper pays while the relay is down: the notification gets no answer.
    rig.sim.play(&job.reference, Script::PaysAtOnce);
    rig.sim
        .wait_until(
            |s| {
                s.deliveries()
                    .iter()
                    .any(|d| d.job_ref == job.reference && !d.acknowledged)
            },
            WAIT,
        )
        .await
        .expect("the gateway tried to notify and failed");
    assert_ne!(
        rig.app
            .store()
            .order(&tillwatch_core::domain::JobRef::parse(&job.reference).unwrap())
            .await
            .unwrap()
            .unwrap()
            .summary
            .status,
        PaymentStatus::Paid
    );

    let before_restart = Timestamp::now();
    let restarted = rig.mark();
    let relay = Relay::start(LOOPBACK, LOOPBACK).await;
    let (_, up) = rig
        .wait_tunnel_state(restarted, "up again", TunnelState::is_up)
        .await;
    assert_eq!(
        up.webhook_url(),
        Some(webhook_url.as_str()),
        "the same port was reclaimed"
    );
    assert_eq!(
        rig.url_changes(restarted),
        vec![],
        "the same URL is no change"
    );
    assert_eq!(
        rig.url_changes(0).len(),
        1,
        "only the first address was announced"
    );

    rig.wait_reconciliation_since(before_restart).await;
    let order = rig
        .wait_order(&job.reference, "Paid, caught up by polling", |d| {
            d.summary.status == PaymentStatus::Paid
        })
        .await;
    assert!(
        order
            .status_events
            .iter()
            .any(|e| e.to == "Paid" && e.source == ChangeSource::Poll),
        "{:#?}",
        order.status_events
    );

    rig.stop().await;
    relay.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_silently_stops_answering_is_caught_by_the_probe_and_a_new_url_is_announced() {
    let _one_at_a_time = RELAY_LOCK.lock().await;
    // The relay's control port sits behind a proxy on a second loopback address; its
    // tunnels listen on that address too, so the public URL is http://127.0.0.2:PORT.
    let relay = Relay::start(LOOPBACK, LOOPBACK_2).await;
    let proxy = SilentProxy::start(
        SocketAddr::new(LOOPBACK_2, BORE_CONTROL_PORT),
        SocketAddr::new(LOOPBACK, BORE_CONTROL_PORT),
    )
    .await;
    let mut rig = Rig::start("bore-silent", bore(LOOPBACK_2), 100_000.0).await;
    let (public_url, webhook_url) = rig.wait_up().await;
    assert!(public_url.starts_with("http://127.0.0.2:"), "{public_url}");

    // No FIN, no RST: bore's client cannot notice; only the probe can.
    let frozen = rig.mark();
    proxy.freeze();
    let (_, down) = rig
        .wait_tunnel_state(frozen, "down", TunnelState::is_down)
        .await;
    let TunnelState::Down { kind, reason, .. } = &down else {
        unreachable!()
    };
    assert_eq!(*kind, TunnelErrorKind::ProbeFailed, "{reason}");
    assert!(reason.contains(&webhook_url), "{reason}");

    // The path comes back. The relay still holds the old port for the lost connection,
    // so the tunnel comes back on a new port, and the owner is told what to change.
    let before = Timestamp::now();
    let thawed = rig.mark();
    proxy.thaw();
    let (_, up) = rig
        .wait_tunnel_state(thawed, "up again", TunnelState::is_up)
        .await;
    let TunnelState::Up {
        public_url: new_public,
        webhook_url: new_webhook,
        ..
    } = up
    else {
        unreachable!()
    };
    assert_ne!(new_public, public_url);
    let changes = rig.url_changes(thawed);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    let change = changes[0].clone();
    assert_eq!(
        change.previous_webhook_url.as_deref(),
        Some(webhook_url.as_str())
    );
    assert_eq!(change.webhook_url, new_webhook);
    let old_port = public_url.rsplit(':').next().unwrap();
    assert!(
        change
            .message
            .contains(&format!("could not give back port {old_port}")),
        "{}",
        change.message
    );
    assert!(
        change.message.contains("for up to a month"),
        "{}",
        change.message
    );
    assert!(
        change.message.contains(&format!(
            "In the Cashflows portal, set the webhook URL to {new_webhook}"
        )),
        "{}",
        change.message
    );
    assert_eq!(rig.tunnel.last_url_change(), Some(change));
    let remembered = std::fs::read_to_string(rig.dir.path().join("tunnel-url.txt")).unwrap();
    assert_eq!(remembered.trim(), new_public);
    rig.wait_reconciliation_since(before).await;

    rig.stop().await;
    drop(proxy);
    relay.kill().await;
}
