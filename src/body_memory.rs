//! A bound on the upload bodies held in memory at once. Bodies arrive into temporary files;
//! only while one is written to the database (which takes a value whole) is it in memory,
//! in the upload handler or, on SQLite, in the spool mover. Many small uploads go on side
//! by side; a large one waits until its size is free.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget is counted in KiB, so that it fits the semaphore's `u32` requests.
const UNIT_BYTES: u64 = 1024;

pub struct BodyMemory {
    room: Arc<Semaphore>,
    budget_units: u32,
}

impl BodyMemory {
    pub fn new(budget_bytes: u64) -> Arc<BodyMemory> {
        let budget_units = (budget_bytes / UNIT_BYTES).clamp(1, u32::MAX as u64) as u32;
        Arc::new(BodyMemory {
            room: Arc::new(Semaphore::new(budget_units as usize)),
            budget_units,
        })
    }

    /// Waits until a payload of `bytes` may be written to the database: room for twice its
    /// size, our copy and the database driver's own (a body larger than the whole budget
    /// waits for all of it). The room is given back when the permit is dropped.
    pub async fn reserve_for_write(&self, bytes: u64) -> OwnedSemaphorePermit {
        let units = bytes
            .saturating_mul(2)
            .div_ceil(UNIT_BYTES)
            .clamp(1, self.budget_units as u64) as u32;
        self.room
            .clone()
            .acquire_many_owned(units)
            .await
            .expect("the semaphore is never closed")
    }

    /// Bytes of the budget not reserved now.
    pub fn free_bytes(&self) -> u64 {
        self.room.available_permits() as u64 * UNIT_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn large_bodies_wait_for_room_and_small_ones_share_it() {
        let memory = BodyMemory::new(4 << 10);
        let small = memory.reserve_for_write(50).await;
        let other = memory.reserve_for_write(512).await;
        assert_eq!(memory.free_bytes(), 2 << 10);
        // Larger than the budget: it needs all of it, so it waits for both to end.
        assert!(memory.room.try_acquire_many(memory.budget_units).is_err());
        drop((small, other));
        let huge = memory.reserve_for_write(1 << 30).await;
        assert_eq!(memory.free_bytes(), 0);
        drop(huge);
        assert_eq!(memory.free_bytes(), 4 << 10);
    }
}
