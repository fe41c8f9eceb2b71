//! Keeps the read models (annal-projections) current: restores them from the read-model
//! database at start, follows the log from their checkpoint, and persists changed documents
//! with the new checkpoint in one transaction.
//!
//! Queries read the in-memory state, which is updated as soon as an event is seen; the
//! database copy trails it by at most one flush interval, and matters at the next start and for
//! settled documents: once the lease holder has written a finished command (or its audit entry)
//! it drops it from memory, and the history queries (`readmodel/settled.rs`, behind `Queries`) read it from the
//! database. A node that does not hold the lease writes nothing and so keeps everything it
//! folded until it takes the lease over.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use annal_projections::{Change, ProjectionError, Projections};
use annal_schemas::RecordedEvent;
use futures::StreamExt;
use tokio::sync::watch;

use super::{DocWrite, ReadModelDb, ReadModelError};
use crate::backoff::Backoff;
use crate::store::{EventStore, StoreError};
use crate::stream::subscription::{self, Consumer, Handled, Options};

/// The checkpoint of one projection version: each projection keeps its own, written with its
/// documents, so a new version of one finds no checkpoint and only that one is folded from
/// position 0 (beside the old version's documents) while the others go on from theirs.
pub fn checkpoint_name(model: &str, version: u32) -> String {
    format!("projection:{model}.v{version}")
}

/// The checkpoint the four projections shared before each kept its own, named after all their
/// versions: read when a projection has no checkpoint of its own yet, so the upgrade to
/// per-projection checkpoints refolds nothing.
fn shared_checkpoint_name() -> String {
    let versions: Vec<String> = Projections::models().iter().map(|(m, v)| format!("{m}.v{v}")).collect();
    format!("projections:{}", versions.join(","))
}

/// Reads every projection's checkpoint (in `Projections::models()` order) and, with `models`,
/// their documents, in one transaction. The checkpoint all projections shared before each kept
/// its own stands in only while none has its own (the first start after the upgrade): once
/// they are written, a projection without one has been cleared to be folded again, and the
/// old shared position must not bring it back empty.
async fn load_checkpoints(
    db: &dyn ReadModelDb,
    models: &[(&'static str, u32)],
) -> Result<(Vec<Option<u64>>, Vec<(&'static str, u32, String, Vec<u8>)>), ReadModelError> {
    let mut names: Vec<String> = Projections::models()
        .iter()
        .map(|(m, v)| checkpoint_name(m, *v))
        .collect();
    names.push(shared_checkpoint_name());
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut loaded = db.load_many(&names, models).await?;
    let shared = loaded.checkpoints.pop().flatten();
    if loaded.checkpoints.iter().all(Option::is_none) {
        loaded.checkpoints.iter_mut().for_each(|c| *c = shared);
    }
    Ok((loaded.checkpoints, loaded.docs))
}

/// The position every read model has been persisted up to (a projection without a checkpoint
/// counts as 0); `None` when none has one.
pub async fn persisted_position(db: &dyn ReadModelDb) -> Result<Option<u64>, ReadModelError> {
    let (checkpoints, _) = load_checkpoints(db, &[]).await?;
    let any = checkpoints.iter().any(Option::is_some);
    Ok(checkpoints.iter().map(|c| c.unwrap_or(0)).min().filter(|_| any))
}

/// A device's document changes on every poll; writing it once a second rather than on every
/// change keeps persistence cheap, and a restart refolds at most that second.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const BATCH: usize = 1000;
/// Waits before following the log again after its subscription failed.
const RESUBSCRIBE: Backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
/// Waits before writing drained documents again after a failed write.
const PERSIST_RETRY: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    ReadModel(#[from] ReadModelError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    #[error("another process (a running `annal serve`) writes these read models: stop it before rebuilding")]
    Leased,
    #[error("stored {model} document {key:?} is not JSON: {detail}")]
    Document { model: String, key: String, detail: String },
}

pub struct Projector {
    state: RwLock<Projections>,
    /// Where settled documents (finished commands, their audit entries) are read from once
    /// they have left memory.
    pub(crate) db: Arc<dyn ReadModelDb>,
    position: watch::Sender<u64>,
    /// Projections restored without a checkpoint (a new version), folded from position 0: their
    /// stored documents and checkpoint are cleared before the first write.
    refold: std::sync::Mutex<Vec<(&'static str, u32)>>,
    /// This node holds the read-model lease: one node per fleet does fleet-wide chores (re-push).
    leader: std::sync::atomic::AtomicBool,
    /// Turns true to stop following the log (see `shutdown`).
    stop: watch::Sender<bool>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Projector {
    /// Restores the read models and starts following the log.
    pub async fn start(store: Arc<dyn EventStore>, db: Arc<dyn ReadModelDb>) -> Result<Arc<Self>, ProjectorError> {
        let Restored { projections, refold } = restore(db.as_ref()).await?;
        // Restoring read every document into memory at once and parsed it: give back what is
        // freed now, or it stays resident for the life of the process.
        release_freed_memory();
        let from = projections.position();
        let (position, _) = watch::channel(from);
        let projector = Arc::new(Self {
            state: RwLock::new(projections),
            db: db.clone(),
            position,
            refold: std::sync::Mutex::new(refold),
            leader: Default::default(),
            stop: watch::channel(false).0,
            task: Default::default(),
        });
        // Subscribed here, before `shutdown` can be called, so no stop is missed.
        let stop = projector.stop.subscribe();
        let task = tokio::spawn(follow(projector.clone(), store, db, from, stop));
        if let Ok(mut slot) = projector.task.lock() {
            *slot = Some(task);
        }
        Ok(projector)
    }

    /// Folds the rest of the log, writes the read models with their checkpoint (so a restart
    /// refolds nothing) and stops following the log. For a clean shutdown, after the last
    /// request has been served.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Runs `f` over the current read models.
    pub fn read<T>(&self, f: impl FnOnce(&Projections) -> T) -> T {
        match self.state.read() {
            Ok(guard) => f(&guard),
            // A panic while folding left the lock poisoned; the state is still the last
            // complete fold of whole events (apply never leaves one half-applied).
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    pub fn position(&self) -> u64 {
        *self.position.borrow()
    }

    /// Whether this node writes the read models (holds their lease).
    pub fn is_leader(&self) -> bool {
        self.leader.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits (up to `timeout`) until the read models include `position`: lets an API call
    /// read its own writes. Returns whether they do.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> bool {
        let mut rx = self.position.subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|p| *p >= position)).await;
        reached.is_ok_and(|r| r.is_ok())
    }

    fn apply(&self, events: &[annal_schemas::RecordedEvent]) {
        let last = match self.state.write() {
            Ok(mut state) => {
                for e in events {
                    state.apply(e);
                }
                state.position()
            }
            Err(_) => return,
        };
        self.position.send_replace(last);
    }

    /// Drops persisted settled documents from memory (see [`Projections::evict`]).
    fn evict(&self, settled: &[(&'static str, String)]) {
        if settled.is_empty() {
            return;
        }
        if let Ok(mut state) = self.state.write() {
            state.evict(settled.iter().map(|(model, key)| (*model, key.as_str())));
        }
    }

    /// The changed documents and each projection's position.
    fn drain(&self) -> (Vec<(&'static str, u32, u64)>, Vec<Change>) {
        match self.state.write() {
            Ok(mut state) => {
                let changes = state.drain_changes();
                (checkpoints(&state), changes)
            }
            Err(_) => (Vec::new(), Vec::new()),
        }
    }
}

/// `(NAME, VERSION, position)` of every projection.
fn checkpoints(projections: &Projections) -> Vec<(&'static str, u32, u64)> {
    Projections::models()
        .into_iter()
        .map(|(model, version)| (model, version, projections.checkpoint(model).unwrap_or(0)))
        .collect()
}

/// What a start-up restored.
pub struct Restored {
    pub projections: Projections,
    /// `(NAME, VERSION)` of the projections restored without a checkpoint: folded from 0.
    pub refold: Vec<(&'static str, u32)>,
}

/// Reads every projection's persisted documents with the checkpoint they were written with, in
/// one transaction. A projection without a checkpoint is folded from position 0, alone: each
/// folds from the events only (none reads another while it folds), so the others go on from
/// their own checkpoints, whatever they are.
pub async fn restore(db: &dyn ReadModelDb) -> Result<Restored, ProjectorError> {
    let models = Projections::models();
    let (checkpoints, docs) = load_checkpoints(db, &models).await?;
    let mut projections = Projections::new();
    let mut refold = Vec::new();
    for ((model, version), checkpoint) in models.iter().zip(&checkpoints) {
        match checkpoint {
            Some(position) => projections.set_checkpoint(model, *position)?,
            None => refold.push((*model, *version)),
        }
    }
    for (model, version, key, doc) in docs {
        if refold.contains(&(model, version)) {
            continue;
        }
        let doc = serde_json::from_slice(&doc).map_err(|e| ProjectorError::Document {
            model: model.into(),
            key: key.clone(),
            detail: e.to_string(),
        })?;
        projections.restore(&Change::stored(model, version, key, doc))?;
    }
    if !refold.is_empty() {
        tracing::info!(?refold, "folding these read models from the start of the log");
    }
    Ok(Restored { projections, refold })
}

/// Writes the documents with every projection's checkpoint, in one transaction.
async fn commit_each(
    db: &dyn ReadModelDb,
    checkpoints: &[(&'static str, u32, u64)],
    writes: Vec<DocWrite>,
) -> Result<(), ReadModelError> {
    let names: Vec<(String, u64)> = checkpoints
        .iter()
        .map(|(model, version, position)| (checkpoint_name(model, *version), *position))
        .collect();
    let names: Vec<(&str, u64)> = names.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    db.commit_many(&names, writes).await.map(|_| ())
}

pub fn doc_writes(changes: Vec<Change>) -> Vec<DocWrite> {
    changes
        .into_iter()
        .map(|c| DocWrite {
            model: c.model,
            version: c.version,
            key: c.key,
            doc: c.doc.map(|d| d.to_string().into_bytes()),
            settled: c.settled,
            tag: c.tag,
        })
        .collect()
}

/// Follows the log after `from` (the position restored) on the subscription runner until
/// `shutdown`: folds each batch into memory and, once a second, writes what changed under the
/// read-model lease. Only the lease holder writes; the others keep their changes marked until
/// they hold it (when the holder stops), then write them all: every write comes from one
/// complete fold.
async fn follow(
    projector: Arc<Projector>,
    store: Arc<dyn EventStore>,
    db: Arc<dyn ReadModelDb>,
    from: u64,
    mut stop: watch::Receiver<bool>,
) {
    let options = Options {
        batch: BATCH,
        // Time alone decides: see FLUSH_EVERY.
        every: u64::MAX,
        interval: FLUSH_EVERY,
        backoff: RESUBSCRIBE,
        lease: Some(db.clone()),
    };
    let mut follower = Follower {
        projector: projector.clone(),
        store: store.clone(),
        db,
    };
    subscription::run(store, &mut follower, from, options, &mut stop).await;
    tracing::info!(position = projector.position(), "read models saved");
}

/// The projector as a consumer of the log.
struct Follower {
    projector: Arc<Projector>,
    store: Arc<dyn EventStore>,
    db: Arc<dyn ReadModelDb>,
}

impl Consumer for Follower {
    const KIND: &'static str = "projector";

    async fn handle(&mut self, batch: &[RecordedEvent], _stop: &mut watch::Receiver<bool>) -> Handled {
        self.projector.apply(batch);
        Handled::All
    }

    /// The runner calls this only while this node holds the lease.
    async fn save(&mut self, _position: u64) -> bool {
        persist(&self.projector, self.db.as_ref()).await
    }

    async fn finish(&mut self, _position: u64) -> u64 {
        catch_up(&self.projector, self.store.as_ref()).await;
        self.projector.position()
    }

    /// One node per fleet does fleet-wide chores (re-push): the one that writes the read models.
    fn lease_changed(&mut self, held: bool) {
        self.projector.leader.store(held, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Folds what the log holds beyond the read models' position, read directly: the live
/// subscription may not have delivered it yet (on SQLite it learns of another process's
/// appends only at this process's next one).
async fn catch_up(projector: &Projector, store: &dyn EventStore) {
    loop {
        match store.read_all(projector.position() + 1, BATCH).await {
            Ok(page) if !page.is_empty() => projector.apply(&page),
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "reading the rest of the log before saving the read models");
                return;
            }
        }
    }
}

/// Writes the changed documents with every projection's checkpoint; for the lease holder only.
/// False when a projection folded again could not be cleared first (retried at the next flush).
async fn persist(projector: &Projector, db: &dyn ReadModelDb) -> bool {
    // A projection folded from 0 starts its table over: a stored checkpoint ahead of the fold
    // would refuse its writes as behind. The changes kept since start-up include every
    // document of its fold, so nothing is lost.
    let refold = projector.refold.lock().map(|r| r.clone()).unwrap_or_default();
    for (model, version) in &refold {
        if let Err(e) = db.reset(&checkpoint_name(model, *version), &[(model, *version)]).await {
            tracing::warn!(error = %e, model, "clearing a read model before folding it again");
            return false;
        }
        if let Ok(mut r) = projector.refold.lock() {
            r.retain(|m| m != &(*model, *version));
        }
    }
    let (checkpoints, changes) = projector.drain();
    if changes.is_empty() {
        return true;
    }
    // A large batch (a start-up folding a long log, a big fan-out) leaves pages of events and
    // serialised documents freed behind it.
    let large = changes.len() >= 10_000;
    let writes = doc_writes(changes);
    let settled: Vec<(&'static str, String)> = writes
        .iter()
        .filter(|w| w.settled)
        .map(|w| (w.model, w.key.clone()))
        .collect();
    // Drained documents exist only in memory until written: retry until they are (the
    // database shares the log's fate, so while it is down nothing new arrives anyway).
    let mut wait = PERSIST_RETRY.initial;
    while let Err(e) = commit_each(db, &checkpoints, writes.clone()).await {
        tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "persisting read models failed");
        tokio::time::sleep(wait).await;
        wait = PERSIST_RETRY.next(wait);
    }
    // Written: what no event changes any more can leave memory, so memory holds a fleet's
    // current state rather than its history (queries read the rest from the database).
    projector.evict(&settled);
    if large {
        drop(writes);
        release_freed_memory();
    }
    true
}

/// Returns the allocator's free memory to the system. glibc's malloc keeps freed small
/// allocations in its heaps until told otherwise: after a start-up that parsed a million
/// documents, hundreds of MiB of them.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

type Page = Result<Vec<annal_schemas::RecordedEvent>, StoreError>;

/// Sends the log in pages, in order; returns the time spent reading. Where positions are dense
/// the pages up to the head are known in advance, so two are read at once (on PostgreSQL the
/// reads, not the fold, are the slower half); whatever was appended meanwhile follows.
async fn read_pages(store: Arc<dyn EventStore>, tx: tokio::sync::mpsc::Sender<Page>, page: usize) -> Duration {
    let started = std::time::Instant::now();
    let mut next = 1;
    if store.capabilities().dense_positions {
        let head = match store.head().await {
            Ok(h) => h.position,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return started.elapsed();
            }
        };
        let starts = (0..).map(|k| 1 + k * page as u64).take_while(|from| *from <= head);
        let mut pages = futures::stream::iter(starts)
            .map(|from| {
                let store = store.clone();
                let want = page.min((head - from + 1) as usize);
                async move {
                    let events = store.read_all(from, want).await?;
                    // Dense positions: a page that is short or starts elsewhere is a gap.
                    match (events.first(), events.len() == want) {
                        (Some(first), true) if first.global_position == from => Ok(events),
                        _ => Err(StoreError::Corrupt(format!(
                            "the log has a gap in {from}..{}",
                            from + want as u64
                        ))),
                    }
                }
            })
            .buffered(2);
        while let Some(result) = pages.next().await {
            let failed = result.is_err();
            if tx.send(result).await.is_err() || failed {
                return started.elapsed();
            }
        }
        next = head + 1;
    }
    loop {
        let result = store.read_all(next, page).await;
        let last = result.as_ref().ok().and_then(|p| p.last().map(|e| e.global_position));
        let failed = result.is_err();
        if (last.is_some() || failed) && tx.send(result).await.is_err() {
            break;
        }
        match last {
            Some(last) if !failed => next = last + 1,
            _ => break,
        }
    }
    started.elapsed()
}

/// What a rebuild did, for the CLI and the benchmark.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RebuildReport {
    pub events: u64,
    pub documents: usize,
    pub read_seconds: f64,
    pub fold_seconds: f64,
    /// Wall time of reading and folding together (they overlap).
    pub read_and_fold_seconds: f64,
    pub write_seconds: f64,
}

/// Folds the whole log from position 0 and replaces the stored read models with the result.
/// Reading and folding overlap (a reader task stays a page or two ahead), so a rebuild runs
/// at the speed of the slower of the two rather than their sum.
pub async fn rebuild(
    store: Arc<dyn EventStore>,
    db: &dyn ReadModelDb,
    mut progress: impl FnMut(u64),
) -> Result<RebuildReport, ProjectorError> {
    const PAGE: usize = 10_000;
    let _lease = db.try_lease().await?.ok_or(ProjectorError::Leased)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Page>(2);
    let started = std::time::Instant::now();
    let reader = tokio::spawn(read_pages(store, tx, PAGE));
    let mut projections = Projections::new();
    let mut fold = Duration::ZERO;
    let mut events = 0u64;
    while let Some(page) = rx.recv().await {
        let page = page?;
        let t = std::time::Instant::now();
        for e in &page {
            projections.apply(e);
        }
        fold += t.elapsed();
        events += page.len() as u64;
        progress(events);
    }
    let read = reader.await.unwrap_or_default();
    let total_fold = started.elapsed();
    let started = std::time::Instant::now();
    let writes = doc_writes(projections.snapshot());
    let documents = writes.len();
    for (model, version) in Projections::models() {
        db.reset(&checkpoint_name(model, version), &[(model, version)]).await?;
    }
    db.reset(&shared_checkpoint_name(), &[]).await?;
    commit_each(db, &checkpoints(&projections), writes).await?;
    Ok(RebuildReport {
        events,
        documents,
        read_seconds: read.as_secs_f64(),
        fold_seconds: fold.as_secs_f64(),
        read_and_fold_seconds: total_fold.as_secs_f64(),
        write_seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod checkpoint_tests {
    use super::*;
    use crate::readmodel::SqliteReadModels;

    /// The checkpoint all projections shared before each kept its own stands in on the first
    /// start after the upgrade, and never again: a projection cleared to be folded again (and
    /// a crash before its first write) must not come back empty at the old shared position.
    #[tokio::test]
    async fn the_shared_checkpoint_stands_in_only_until_each_has_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteReadModels::open(&dir.path().join("rm.db")).unwrap();
        db.commit(&shared_checkpoint_name(), 42, Vec::new()).await.unwrap();
        let upgraded = restore(&db).await.unwrap();
        assert!(upgraded.refold.is_empty(), "{:?}", upgraded.refold);
        for (model, _) in Projections::models() {
            assert_eq!(upgraded.projections.checkpoint(model), Some(42), "{model}");
        }
        assert_eq!(persisted_position(&db).await.unwrap(), Some(42));

        // The first write gives every projection its own checkpoint, in one transaction.
        commit_each(&db, &checkpoints(&upgraded.projections), Vec::new())
            .await
            .unwrap();
        let (push, version) = *Projections::models().iter().find(|(m, _)| *m == "push").unwrap();
        db.reset(&checkpoint_name(push, version), &[(push, version)])
            .await
            .unwrap();
        let restored = restore(&db).await.unwrap();
        assert_eq!(restored.refold, vec![(push, version)], "not the shared position again");
        assert_eq!(persisted_position(&db).await.unwrap(), Some(0));
    }
}
