//! What PostgreSQL's backends wait on while the pages load: `pg_stat_activity` sampled
//! every 20 ms, each active backend of the bench database (and autovacuum) counted under
//! its wait event, or "on CPU" when it waits on nothing; plus the checkpoints that ran.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::common::TestDb;

const EVERY: Duration = Duration::from_millis(20);

pub struct WaitSampler {
    stop: mpsc::Sender<()>,
    sampler: JoinHandle<(u64, BTreeMap<String, u64>)>,
    checkpoints_before: i64,
    conn: flakewatch::db::DbConnection,
}

#[derive(QueryableByName)]
struct Seen {
    #[diesel(sql_type = Text)]
    what: String,
}

#[derive(QueryableByName)]
struct Checkpoints {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn checkpoints(conn: &mut flakewatch::db::DbConnection) -> i64 {
    diesel::sql_query(
        "SELECT (checkpoints_timed + checkpoints_req)::bigint AS n FROM pg_stat_bgwriter",
    )
    .get_result::<Checkpoints>(conn)
    .expect("read pg_stat_bgwriter")
    .n
}

impl WaitSampler {
    pub fn start(db: &TestDb) -> WaitSampler {
        let mut conn = db.connect();
        let checkpoints_before = checkpoints(&mut conn);
        let mut sampling = db.connect();
        let (stop, stopped) = mpsc::channel::<()>();
        let sampler = std::thread::spawn(move || {
            let mut seen = BTreeMap::new();
            let mut samples = 0;
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                let rows: Vec<Seen> = diesel::sql_query(
                    "SELECT backend_type || ': ' || coalesce(wait_event_type || '/' || \
                     wait_event, 'on CPU') AS what FROM pg_stat_activity \
                     WHERE pid <> pg_backend_pid() AND state = 'active' \
                     AND (datname = current_database() OR backend_type = 'autovacuum worker')",
                )
                .load(&mut sampling)
                .expect("sample pg_stat_activity");
                samples += 1;
                for row in rows {
                    *seen.entry(row.what).or_insert(0u64) += 1;
                }
            }
            (samples, seen)
        });
        WaitSampler {
            stop,
            sampler,
            checkpoints_before,
            conn,
        }
    }

    /// Stops sampling; what was seen, most often first, as Markdown.
    pub fn finish(mut self) -> String {
        let _ = self.stop.send(());
        let (samples, seen) = self.sampler.join().expect("the sampler panicked");
        let checkpoints = checkpoints(&mut self.conn) - self.checkpoints_before;
        let mut seen: Vec<_> = seen.into_iter().collect();
        seen.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
        let mut text = format!(
            "PostgreSQL meanwhile: {samples} samples of `pg_stat_activity` {} ms apart, \
             {checkpoints} checkpoint(s) started. Active backends per sample, by what they \
             waited on:\n\n| backend: wait | per sample |\n|---|---:|\n",
            EVERY.as_millis()
        );
        for (what, count) in seen.iter().take(15) {
            let _ = writeln!(
                text,
                "| {what} | {:.2} |",
                *count as f64 / samples.max(1) as f64
            );
        }
        text
    }
}
