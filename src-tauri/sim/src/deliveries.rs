//! What the notification sender has done: every attempt and every series, kept for the
//! control routes and tests to read.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::clock::wire_time;

/// One POST of a notification and how the simulator judged the answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    pub job_ref: String,
    pub payment_ref: String,
    /// Which notification series (one per status change), from 1.
    pub series: u64,
    /// 1 for the first delivery, 2 for the first retry, …
    pub attempt: u32,
    /// The sim time the attempt was due on the schedule (and sent, give or take the
    /// real scheduling latency, which at high clock scales is many sim seconds).
    #[serde(with = "wire_time")]
    pub sim_time: OffsetDateTime,
    pub url: String,
    /// The answer's status, `None` when there was no answer (refused, timed out).
    pub http_status: Option<u16>,
    pub acknowledged: bool,
    /// Why the attempt did not count as acknowledged.
    pub error: Option<String>,
}

/// Where a notification series stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SeriesState {
    /// Still being delivered or waiting for its next retry.
    Sending,
    Acknowledged,
    /// No acknowledgement within the schedule.
    GaveUp,
    /// Neither the job nor the sim config names a webhook URL: nothing was sent.
    NoWebhook,
    /// The simulator shut down before the series settled.
    Stopped,
}

impl SeriesState {
    pub fn is_settled(self) -> bool {
        self != SeriesState::Sending
    }
}

/// One notification series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeriesRecord {
    pub series: u64,
    pub job_ref: String,
    pub payment_ref: String,
    pub url: Option<String>,
    pub state: SeriesState,
    pub attempts: u32,
    #[serde(with = "wire_time")]
    pub started_sim_time: OffsetDateTime,
}

#[derive(Default)]
pub(crate) struct DeliveryLog {
    pub attempts: Vec<DeliveryAttempt>,
    pub series: Vec<SeriesRecord>,
}

impl DeliveryLog {
    pub(crate) fn series_mut(&mut self, id: u64) -> &mut SeriesRecord {
        // Series ids are 1-based positions in `series`.
        &mut self.series[(id - 1) as usize]
    }
}
