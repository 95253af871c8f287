//! Commands for the deliveries that need the owner: acknowledged notifications settled
//! without a confirmation (dead, unknown), and "retry now".

use tauri::{AppHandle, Runtime, State};

use super::state::DesktopState;
use crate::domain::{DeliveryState, StuckDelivery};
use crate::ipc::IpcError;

type Answer<T> = Result<T, IpcError>;

/// Newest first; the window shows at most this many.
const SHOWN: u32 = 200;

#[tauri::command]
pub async fn list_stuck_deliveries(
    state: State<'_, DesktopState>,
    delivery_state: DeliveryState,
) -> Answer<Vec<StuckDelivery>> {
    Ok(state
        .app()
        .await?
        .stuck_deliveries(delivery_state, SHOWN)
        .await?)
}

#[tauri::command]
pub async fn retry_deliveries<R: Runtime>(
    handle: AppHandle<R>,
    state: State<'_, DesktopState>,
    reference: String,
) -> Answer<u64> {
    let n = state.app().await?.retry_deliveries(&reference).await?;
    super::events::emit_health(&handle).await;
    Ok(n)
}
