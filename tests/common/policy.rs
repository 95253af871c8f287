//! The delivery schedule on a test's clock: the same shape as the real one (a first
//! re-ask soon, doubling, a window after which a delivery is settled), in milliseconds.

use std::time::Duration;

use tillwatch_core::domain::DeliveryPolicy;

pub fn quick_delivery_policy() -> DeliveryPolicy {
    let ms = Duration::from_millis;
    DeliveryPolicy {
        not_found_first: ms(20),
        not_found_cap: ms(100),
        not_found_for: ms(400),
        transient_first: ms(20),
        transient_cap: ms(200),
        permanent_first: ms(20),
        permanent_cap: ms(100),
        ..DeliveryPolicy::default()
    }
}
