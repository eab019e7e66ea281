//! The global plate table's readers: every instance reads all of compacted `tw.registry` (every
//! partition, read_committed, from the beginning) into the plate table, and the permits issued
//! to plates on `tw.permits` into the plate permits, before it joins the group, and keeps
//! reading afterwards to stay current — a Kafka Streams GlobalKTable's thread. Readiness waits
//! for the first read to reach the end the topics had at start.
//!
//! The registry is also an ordinary input (per-vehicle plate, co-partitioned); this reader is
//! the only writer of the table live, so re-processing an input record after a restart can
//! never take the table back in time.

use std::collections::BTreeSet;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use super::restore::QuietEof;
use super::status::Stats;
use super::{record_of, KafkaConfig};
use crate::alerts::{AlertTable, Profiles};
use crate::decode::{self, Input};
use crate::metrics as m;
use crate::model::EventKind;
use crate::pipeline::Tables;
use crate::pipeline::{self, PlatesCurrent};
use crate::plates::{PlatePermits, PlateTable};
use crate::sharing::NeighbourTable;
use crate::shutdown::Shutdown;
use crate::topics::TopicKind;

/// How often a `Catchup` question still open is checked against the broker again (a round trip
/// per registry partition).
const RECHECK: Duration = Duration::from_millis(100);

/// Registry records applied under one write lock, so lookups are never held up long.
const BATCH: usize = 2_000;

/// The processing side's question to the registry's reader: has the plate table caught up with
/// the broker? (`PlatesCurrent`.) Each question is a ticket; the reader answers every ticket
/// asked before it checked that its position had reached the high watermarks, which it asks
/// the broker for after the question.
pub struct Catchup {
    tickets: Mutex<Tickets>,
    answered: Condvar,
    /// How long a question is waited for.
    wait: Duration,
}

#[derive(Default)]
struct Tickets {
    asked: u64,
    answered: u64,
    /// The last question went unanswered for all of `wait` (an upstream transaction open on
    /// the registry holds its reader short of the end, or the broker is away): until the reader
    /// answers it, questions get no at once instead of waiting again.
    overdue: bool,
}

impl Catchup {
    pub fn new(wait: Duration) -> Catchup {
        Catchup {
            tickets: Mutex::default(),
            answered: Condvar::new(),
            wait,
        }
    }

    /// The newest ticket not answered yet.
    fn open(&self) -> Option<u64> {
        let t = self.tickets.lock().expect("tickets lock");
        (t.asked > t.answered).then_some(t.asked)
    }

    fn answer(&self, ticket: u64) {
        let mut t = self.tickets.lock().expect("tickets lock");
        t.answered = t.answered.max(ticket);
        if t.answered >= t.asked {
            t.overdue = false;
        }
        self.answered.notify_all();
    }
}

impl PlatesCurrent for Catchup {
    fn current(&self) -> bool {
        let mut t = self.tickets.lock().expect("tickets lock");
        if t.overdue {
            return false;
        }
        t.asked += 1;
        let ticket = t.asked;
        let (mut t, _) = self
            .answered
            .wait_timeout_while(t, self.wait, |t| t.answered < ticket)
            .expect("tickets lock");
        t.overdue = t.answered < ticket;
        !t.overdue
    }
}

/// What a reader keeps: the plate table and the profiles (from `tw.registry`), the plate
/// permits (from `tw.permits`), the alerts (from `tw.alerts`) or neighbours' listings.
#[derive(Clone)]
enum Feed {
    Plates(Arc<RwLock<PlateTable>>, Arc<Catchup>, Arc<RwLock<Profiles>>),
    Permits(Arc<RwLock<PlatePermits>>),
    Alerts(Arc<RwLock<AlertTable>>),
    /// A neighbouring province's shared topic, mirrored in.
    Neighbours(Arc<RwLock<NeighbourTable>>),
}

/// Starts the readers of the global tables' topics and waits until the tables hold them as
/// they stood at start (or `shutdown` is set). The readers go on until `shutdown`; the
/// registry's reader answers `catchup`.
pub fn start(
    cfg: &KafkaConfig,
    tables: &Tables,
    catchup: Arc<Catchup>,
    stats: Arc<Stats>,
    shutdown: Shutdown,
) -> anyhow::Result<Vec<std::thread::JoinHandle<()>>> {
    let started = Instant::now();
    let mut handles = Vec::new();
    let mut waiting = Vec::new();
    let topics = &cfg.topics;
    let mut feeds = vec![
        (
            topics.name(TopicKind::Registry),
            Feed::Plates(tables.plates.clone(), catchup, tables.profiles.clone()),
        ),
        (
            topics.name(TopicKind::Permits),
            Feed::Permits(tables.permits.clone()),
        ),
        (
            topics.name(TopicKind::Alerts),
            Feed::Alerts(tables.alerts.clone()),
        ),
    ];
    for (_, topic) in topics.neighbours() {
        feeds.push((
            topic.to_string(),
            Feed::Neighbours(tables.neighbours.clone()),
        ));
    }
    for (topic, feed) in feeds {
        let (handle, ready) = spawn(cfg, topic, feed, stats.clone(), shutdown.clone())?;
        handles.push(handle);
        waiting.push(ready);
    }
    for ready in waiting {
        while !shutdown.requested() {
            match ready.recv_timeout(Duration::from_millis(100)) {
                Ok(()) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    anyhow::bail!("a plate table reader stopped before the table was restored")
                }
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    metrics::histogram!(m::PLATE_TABLE_RESTORE_DURATION).record(seconds);
    {
        let mut status = stats.plate_table.lock().expect("plate table status lock");
        status.restored = true;
        status.restore_seconds = seconds;
        tracing::info!(
            records = status.records,
            plates = status.plates,
            seconds,
            "Plate table restored from the registry and the permits."
        );
    }
    stats.publish_readiness();
    Ok(handles)
}

/// One reader thread over every partition of `topic`; the receiver hears when it has read
/// the topic as it stood at start.
fn spawn(
    cfg: &KafkaConfig,
    topic: String,
    feed: Feed,
    stats: Arc<Stats>,
    shutdown: Shutdown,
) -> anyhow::Result<(std::thread::JoinHandle<()>, std::sync::mpsc::Receiver<()>)> {
    let mut config = cfg.plain_consumer();
    config.set("enable.partition.eof", "true");
    let consumer: BaseConsumer<QuietEof> = config.create_with_context(QuietEof)?;
    let metadata = consumer
        .fetch_metadata(Some(&topic), Duration::from_secs(10))
        .with_context(|| format!("reading metadata of {topic}"))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .first()
        .filter(|t| t.error().is_none())
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    anyhow::ensure!(
        !partitions.is_empty(),
        "{topic} has no partitions (a neighbour's shared topic is made by MirrorMaker 2, or \
         beforehand by `tailwatch topics create`)"
    );
    let mut tpl = TopicPartitionList::new();
    let mut pending = BTreeSet::new();
    let mut total = 0u64;
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(&topic, p, Duration::from_secs(10))
            .with_context(|| format!("reading watermarks of {topic} partition {p}"))?;
        total += u64::try_from(high - low).unwrap_or(0);
        if high > low {
            pending.insert(p);
        }
        tpl.add_partition_offset(&topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    if let Feed::Plates(table, _, _) = &feed {
        table
            .write()
            .expect("plates lock")
            .reserve(usize::try_from(total).unwrap_or(0));
        stats
            .plate_table
            .lock()
            .expect("plate table status lock")
            .restore_total = total;
        tracing::info!(
            records = total,
            "Restoring the plate table from the registry."
        );
    }
    let name = format!("table-{topic}");
    let reader = Reader {
        cfg: cfg.clone(),
        topic,
        partitions,
        feed,
        stats,
        restored: false,
        pending,
        records: 0,
        checked: None,
    };
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = std::thread::Builder::new()
        .name(name)
        .spawn(move || reader.run(&consumer, &shutdown, &ready_tx))
        .context("starting a plate table reader")?;
    Ok((handle, ready_rx))
}

struct Reader {
    cfg: KafkaConfig,
    topic: String,
    partitions: Vec<i32>,
    feed: Feed,
    stats: Arc<Stats>,
    restored: bool,
    /// Registry partitions not yet read to their end as of start.
    pending: BTreeSet<i32>,
    records: u64,
    /// The last `Catchup` question checked against the broker, and when.
    checked: Option<(u64, Instant)>,
}

impl Reader {
    fn run(
        mut self,
        consumer: &BaseConsumer<QuietEof>,
        shutdown: &Shutdown,
        ready: &std::sync::mpsc::Sender<()>,
    ) {
        let mut batch = Vec::with_capacity(BATCH);
        while !shutdown.requested() {
            // Short: a question (`Catchup`) waits for the next turn.
            let mut next = consumer.poll(Duration::from_millis(20));
            while let Some(result) = next {
                match result {
                    Ok(m) => batch.push(record_of(&m)),
                    Err(KafkaError::PartitionEOF(p)) => {
                        self.pending.remove(&p);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "The plate table reader got an error instead of a record.")
                    }
                }
                if batch.len() >= BATCH {
                    break;
                }
                next = consumer.poll(Duration::ZERO);
            }
            self.apply(&mut batch);
            if !self.restored && self.pending.is_empty() {
                self.restored = true;
                let _ = ready.send(());
            }
            if let Feed::Plates(_, catchup, _) = &self.feed {
                // A new question is checked at once, one still open every `RECHECK`.
                let due = |(asked, at): (u64, Instant)| {
                    Some(asked) != catchup.open() || at.elapsed() >= RECHECK
                };
                if let Some(ticket) = catchup.open().filter(|_| self.checked.is_none_or(due)) {
                    self.checked = Some((ticket, Instant::now()));
                    if self.caught_up(consumer) {
                        catchup.answer(ticket);
                    }
                }
            }
        }
    }

    /// Whether every record the broker holds now has been applied: the position of each
    /// partition is at its high watermark, asked of the broker after the question was.
    /// An open upstream transaction keeps the answer no until it ends.
    fn caught_up(&self, consumer: &BaseConsumer<QuietEof>) -> bool {
        let Ok(positions) = consumer.position() else {
            return false;
        };
        self.partitions.iter().all(|&p| {
            let Ok((low, high)) = consumer.fetch_watermarks(&self.topic, p, Duration::from_secs(5))
            else {
                return false;
            };
            let position = positions
                .find_partition(&self.topic, p)
                .and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                })
                .unwrap_or(low);
            position >= high
        })
    }

    fn apply(&mut self, batch: &mut Vec<crate::recording::Record>) {
        if batch.is_empty() {
            return;
        }
        let options = decode::Options::default();
        let neighbours = matches!(self.feed, Feed::Neighbours(_));
        let mut inputs = Vec::with_capacity(batch.len());
        for r in batch.iter() {
            match decode::record(r, &self.cfg.topics, &options) {
                Ok(input) => inputs.push(input),
                // The registry's and the permits' bad records are dead-lettered by the
                // partitions that consume them as inputs; a neighbour's are read only here.
                Err(e) if neighbours => {
                    metrics::counter!(m::NEIGHBOUR_REJECTS, "reason" => e.reason()).increment(1);
                    tracing::warn!(topic = %r.topic, partition = r.partition, offset = r.offset, reason = e.reason(), error = %e, "A neighbour's shared record is unreadable; skipped.");
                }
                Err(_) => {}
            }
        }
        match &self.feed {
            Feed::Plates(table, _, profiles) => {
                let mut table = table.write().expect("plates lock");
                let mut profiles = profiles.write().expect("profiles lock");
                for input in &inputs {
                    match input {
                        Input::Vehicle(event) => {
                            if let EventKind::Registration(r) = &event.kind {
                                pipeline::register(&mut table, event.vin, r);
                                profiles.register(event.vin, r.profile.clone());
                            }
                        }
                        Input::Deregistration { vin, at } => {
                            table.deregister(*vin, at.secs().unwrap_or_default());
                        }
                        Input::Plate(_)
                        | Input::NeighbourListing { .. }
                        | Input::NeighbourForgot { .. }
                        | Input::Alert(_)
                        | Input::AlertWithdrawn { .. } => {}
                    }
                }
            }
            Feed::Alerts(table) => {
                let mut table = table.write().expect("alerts lock");
                for input in inputs {
                    match input {
                        Input::Alert(alert) => table.apply(alert),
                        Input::AlertWithdrawn { id } => table.withdraw(&id),
                        Input::Vehicle(_)
                        | Input::Plate(_)
                        | Input::Deregistration { .. }
                        | Input::NeighbourListing { .. }
                        | Input::NeighbourForgot { .. } => {}
                    }
                }
            }
            Feed::Neighbours(table) => {
                let mut table = table.write().expect("neighbours lock");
                for input in inputs {
                    match input {
                        Input::NeighbourListing { vin, listing } => table.apply(vin, listing),
                        Input::NeighbourForgot { vin, region } => table.forget(vin, region),
                        Input::Vehicle(_)
                        | Input::Plate(_)
                        | Input::Deregistration { .. }
                        | Input::Alert(_)
                        | Input::AlertWithdrawn { .. } => {}
                    }
                }
            }
            Feed::Permits(permits) => {
                let mut permits = permits.write().expect("permits lock");
                for input in &inputs {
                    if let Input::Plate(read) = input {
                        if let Some(permit) = &read.permit {
                            pipeline::note_permit(&mut permits, read, permit);
                        }
                    }
                }
            }
        }
        self.records += batch.len() as u64;
        metrics::counter!(m::PLATE_TABLE_RECORDS).increment(batch.len() as u64);
        batch.clear();
        self.publish();
    }

    /// The registry reader's counts, for `/v1/status` and the metrics.
    fn publish(&self) {
        let Feed::Plates(table, _, _) = &self.feed else {
            return;
        };
        let (plates, vehicles) = {
            let table = table.read().expect("plates lock");
            (table.plates() as u64, table.vehicles() as u64)
        };
        metrics::gauge!(m::PLATE_TABLE_PLATES).set(plates as f64);
        let mut status = self
            .stats
            .plate_table
            .lock()
            .expect("plate table status lock");
        status.records = self.records;
        status.plates = plates;
        status.vehicles = vehicles;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A question is answered by the reader's next answer; one left unanswered for the whole
    /// wait makes later questions say no at once (no second wait) until the reader answers it.
    #[test]
    fn an_overdue_question_is_not_waited_for_again_until_answered() {
        let catchup = Arc::new(Catchup::new(Duration::from_millis(50)));
        let reader = {
            let catchup = catchup.clone();
            std::thread::spawn(move || loop {
                if let Some(ticket) = catchup.open() {
                    catchup.answer(ticket);
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            })
        };
        assert!(catchup.current(), "answered by the reader");
        reader.join().unwrap();
        assert!(!catchup.current(), "no reader: unanswered after the wait");
        let overdue = catchup.open().expect("still open");
        assert!(!catchup.current());
        assert_eq!(
            catchup.open(),
            Some(overdue),
            "not asked (nor waited for) again"
        );
        catchup.answer(overdue);
        let ticket = {
            let catchup = catchup.clone();
            std::thread::spawn(move || catchup.current())
        };
        while catchup.open().is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        catchup.answer(catchup.open().unwrap());
        assert!(
            ticket.join().unwrap(),
            "asked and waited for again once answered"
        );
    }
}
