//! The projects and their data versions, kept in memory while this server hears of every
//! change to them (`db::changes`: on PostgreSQL, with its listener connected), so a page
//! served from the page cache needs no database at all. Elsewhere (SQLite, or while the
//! listener reconnects) every request reads them, as the page cache's promise needs: no
//! page older than a change committed before its request began.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::shared_reads::SharedReads;
use crate::db::changes::Epoch;
use crate::db::{Database, DbError};
use crate::store::data_versions;
use crate::store::projects::{self, Project};

/// Longest time a read is trusted, in case the listener's connection died without a word
/// (a half-open TCP connection is noticed only by its keepalives).
const KEEP_FOR: Duration = Duration::from_secs(2);

/// Every project, in the order the home page lists them, with its data version.
pub struct ProjectsNow {
    projects: Vec<Project>,
    by_name: HashMap<String, usize>,
    by_id: HashMap<i64, usize>,
    versions: HashMap<i64, i64>,
}

impl ProjectsNow {
    pub fn all(&self) -> impl Iterator<Item = (&Project, i64)> {
        self.projects
            .iter()
            .map(|project| (project, self.version(project.id)))
    }

    fn named(&self, name: &str) -> Option<(Project, i64)> {
        let project = &self.projects[*self.by_name.get(name)?];
        Some((project.clone(), self.version(project.id)))
    }

    fn version(&self, project_id: i64) -> i64 {
        self.versions.get(&project_id).copied().unwrap_or(0)
    }
}

struct Kept {
    epoch: Epoch,
    read_at: Instant,
    projects: Arc<ProjectsNow>,
}

pub struct KnownProjects {
    /// False with the page cache off: every request reads them.
    keep: bool,
    kept: Mutex<Option<Kept>>,
    reads: SharedReads<(), Arc<ProjectsNow>>,
}

impl KnownProjects {
    pub fn new(keep: bool) -> KnownProjects {
        KnownProjects {
            keep,
            kept: Mutex::default(),
            reads: SharedReads::default(),
        }
    }

    /// Every project with its data version.
    pub async fn all(&self, db: &Database) -> Result<Arc<ProjectsNow>, DbError> {
        if let Some(kept) = self.current(db) {
            return Ok(kept);
        }
        // The epoch is taken before the read: a change heard during it moves the epoch on,
        // so what was read is never taken for current after that change.
        let Some(epoch) = self.epoch(db) else {
            return Ok(Arc::new(db.run(read_all).await?));
        };
        let read = self
            .reads
            .read(epoch, (), async { db.run(read_all).await.map(Arc::new) })
            .await?;
        *self.lock() = Some(Kept {
            epoch,
            read_at: Instant::now(),
            projects: read.clone(),
        });
        Ok(read)
    }

    /// The project of that name with its data version, `None` when there is none.
    pub async fn named(
        &self,
        db: &Database,
        name: &str,
    ) -> Result<Option<(Project, i64)>, DbError> {
        if self.epoch(db).is_some() {
            if let Some(found) = self.all(db).await?.named(name) {
                return Ok(Some(found));
            }
            // Not known (yet): a project another process created a moment ago may not
            // have been heard of, and asking costs little for a name that is rare.
        }
        let name = name.to_owned();
        db.run(move |conn| projects::find_with_data_version(conn, &name).map_err(DbError::from))
            .await
    }

    /// The data version of the project with that id.
    pub async fn version(&self, db: &Database, project_id: i64) -> Result<i64, DbError> {
        if self.epoch(db).is_some() {
            let known = self.all(db).await?;
            if known.by_id.contains_key(&project_id) {
                return Ok(known.version(project_id));
            }
        }
        db.run(move |conn| data_versions::of(conn, project_id).map_err(DbError::from))
            .await
    }

    /// What was read at the current epoch, if it is recent enough.
    fn current(&self, db: &Database) -> Option<Arc<ProjectsNow>> {
        let epoch = self.epoch(db)?;
        let kept = self.lock();
        let kept = kept.as_ref()?;
        (kept.epoch == epoch && kept.read_at.elapsed() < KEEP_FOR).then(|| kept.projects.clone())
    }

    /// The epoch what is read now may be kept under, if it may be kept.
    fn epoch(&self, db: &Database) -> Option<Epoch> {
        db.changes.epoch().filter(|_| self.keep)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Kept>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn read_all(conn: &mut crate::db::DbConnection) -> Result<ProjectsNow, DbError> {
    let versions = data_versions::all(conn)?;
    let projects = projects::list(conn)?;
    let by_name = projects
        .iter()
        .enumerate()
        .map(|(at, project)| (project.name.clone(), at))
        .collect();
    let by_id = projects
        .iter()
        .enumerate()
        .map(|(at, project)| (project.id, at))
        .collect();
    Ok(ProjectsNow {
        projects,
        by_name,
        by_id,
        versions,
    })
}
