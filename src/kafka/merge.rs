//! The merge of one partition number's input topics: records of every input topic with that
//! partition number are handed out in timestamp order (then topic rank, then offset), the way
//! Kafka Streams picks a task's next record, so cross-topic rules do not depend on fetch
//! timing. An empty topic holds the others back while the broker still has unread records for
//! it (at most `UNREAD_WAIT`), or, before its first fetch says, at most `merge_wait`.
//!
//! Plate-only evidence makes a trip through `tw.evidence.by-vin` before it reaches its
//! vehicle, so a partition must not run ahead of evidence still on that trip: no record is
//! handed out past the oldest unprocessed record of a topic that carries plate-only evidence
//! (on any partition number held here), nor at all while such a topic is empty and may not be
//! passed yet (by the rule above: after a restore, its records may still be unfetched), nor past the oldest resolved record this instance has
//! sent and not yet read back. Across instances the trip is not waited for (README, known
//! approximations).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

use crate::recording::Record;
use crate::topics::TopicKind;

struct Queue {
    records: VecDeque<Record>,
    /// When the queue last became empty.
    empty_since: Instant,
    /// When the broker was last asked whether records are unread, in this empty spell.
    checked_at: Option<Instant>,
    /// Empty because the partition has no unread records (checked against the broker).
    caught_up: bool,
    /// Tie-break between topics with equal timestamps (`TopicKind::rank`).
    rank: usize,
    /// Offset after the last record taken for processing: what the next commit stores.
    next_offset: Option<i64>,
    /// The offset last committed.
    committed: Option<i64>,
    /// Where consumption started (the group's committed offset at assignment).
    start: Option<i64>,
    /// The watermarks asked of the broker when the queue was added: what a fetch will
    /// say, known before the first fetch of a partition resumed after its restore.
    watermarks_at_start: Option<(i64, i64)>,
    role: Role,
    /// Bytes of the records held (keys, values, headers).
    bytes: usize,
    /// Fetching paused because the queue is full.
    paused: bool,
}

/// The size a record is counted at in the bounds: its bytes and a fixed overhead.
fn size(record: &Record) -> usize {
    let headers: usize = record.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    record.key.as_ref().map_or(0, Vec::len)
        + record.value.as_ref().map_or(0, Vec::len)
        + record.topic.len()
        + headers
        + std::mem::size_of::<Record>()
}

/// What the merge may hold, in all its queues together.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    pub records: usize,
    pub bytes: usize,
}

/// What an input topic carries, for the trip of plate-only evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Evidence keyed by VIN only (and alerts, keyed by their id, which wait for nothing).
    Vehicle,
    /// May carry plate-only evidence (inspections, permits).
    PlateKeyed,
    /// Plate-only evidence resolved to a VIN (`tw.evidence.by-vin`).
    Resolved,
}

impl Role {
    /// The role of an input topic of kind `kind`.
    pub(super) fn of(kind: Option<TopicKind>) -> Role {
        match kind {
            Some(TopicKind::Inspections | TopicKind::Permits) => Role::PlateKeyed,
            Some(TopicKind::EvidenceByVin) => Role::Resolved,
            Some(
                TopicKind::TelemetryRaw
                | TopicKind::Telemetry
                | TopicKind::Reinspections
                | TopicKind::Registry
                | TopicKind::Alerts
                | TopicKind::Blacklist
                | TopicKind::Cases
                | TopicKind::Dlq
                | TopicKind::Changelog
                | TopicKind::SharedOverlimit,
            )
            | None => Role::Vehicle,
        }
    }
}

/// How long an empty topic known to have unread records on the broker holds the others back:
/// long enough for any fetch; a partition still that long is the stall watch's business.
const UNREAD_WAIT: Duration = Duration::from_secs(30);

/// How long a resolved record sent from here is waited for before its partition moves on.
const RESOLVED_WAIT: Duration = Duration::from_secs(30);

/// How often an empty queue may ask the broker whether it has unread records.
const RECHECK: Duration = Duration::from_millis(10);

/// Partition number → input topic → queue.
pub(super) struct Merge {
    partitions: BTreeMap<i32, BTreeMap<String, Queue>>,
    merge_wait: Duration,
    bounds: Bounds,
    /// Partition number → timestamps of resolved records sent from here for it, not yet
    /// handed out of its `tw.evidence.by-vin` queue, with when they were sent.
    in_flight: BTreeMap<i32, BTreeMap<i64, Vec<Instant>>>,
}

impl Merge {
    pub(super) fn new(merge_wait: Duration, bounds: Bounds) -> Merge {
        Merge {
            partitions: BTreeMap::new(),
            merge_wait,
            bounds,
            in_flight: BTreeMap::new(),
        }
    }

    /// A resolved record for partition `p` at `timestamp` was sent from here.
    pub(super) fn sent_resolved(&mut self, p: i32, timestamp: i64, now: Instant) {
        if self.partitions.contains_key(&p) {
            let at = self.in_flight.entry(p).or_default();
            at.entry(timestamp).or_default().push(now);
        }
    }

    /// Whether resolved records sent from here are still to be read back.
    pub(super) fn awaiting_resolved(&self) -> bool {
        self.in_flight.values().any(|at| !at.is_empty())
    }

    /// Adds a topic-partition with its tie-break rank, role and the offset consumption starts
    /// from; true if the partition number is new.
    pub(super) fn add(
        &mut self,
        topic: &str,
        p: i32,
        rank: usize,
        role: Role,
        start: Option<i64>,
        watermarks_at_start: Option<(i64, i64)>,
    ) -> bool {
        let fresh = !self.partitions.contains_key(&p);
        self.partitions
            .entry(p)
            .or_default()
            .entry(topic.to_owned())
            .or_insert(Queue {
                records: VecDeque::new(),
                empty_since: Instant::now(),
                checked_at: None,
                caught_up: false,
                rank,
                next_offset: None,
                committed: None,
                start,
                watermarks_at_start,
                role,
                bytes: 0,
                paused: false,
            });
        fresh
    }

    /// Topic-partitions to pause (full: a queue may hold its share of the bounds, the bounds
    /// divided by the number of queues) and to resume (back under half of it). A queue fills
    /// only while the merge waits for an empty sibling, which fetching the others serves.
    pub(super) fn flow(&mut self) -> (TopicPartitionList, TopicPartitionList) {
        let queues = self
            .partitions
            .values()
            .map(BTreeMap::len)
            .sum::<usize>()
            .max(1);
        let (records, bytes) = (
            (self.bounds.records / queues).max(1),
            (self.bounds.bytes / queues).max(1),
        );
        let (mut pause, mut resume) = (TopicPartitionList::new(), TopicPartitionList::new());
        for (&p, qs) in &mut self.partitions {
            for (topic, q) in qs.iter_mut() {
                let full = q.records.len() >= records || q.bytes >= bytes;
                let low = q.records.len() <= records / 2 && q.bytes <= bytes / 2;
                if full && !q.paused {
                    q.paused = true;
                    pause.add_partition(topic, p);
                } else if low && q.paused {
                    q.paused = false;
                    resume.add_partition(topic, p);
                }
            }
        }
        (pause, resume)
    }

    /// Records and bytes held in all queues.
    pub(super) fn held(&self) -> (usize, usize) {
        self.partitions
            .values()
            .flat_map(BTreeMap::values)
            .fold((0, 0), |(n, b), q| (n + q.records.len(), b + q.bytes))
    }

    /// Starts the waits of partition `p`'s empty queues now: once its restore is done, each
    /// topic gets its full `merge_wait` to deliver a first fetch, however long the restore took.
    pub(super) fn restart_waits(&mut self, p: i32, now: Instant) {
        for q in self
            .partitions
            .get_mut(&p)
            .into_iter()
            .flat_map(|qs| qs.values_mut())
        {
            if q.records.is_empty() {
                q.empty_since = now;
                q.checked_at = None;
            }
        }
    }

    pub(super) fn remove(&mut self, p: i32) {
        self.partitions.remove(&p);
        self.in_flight.remove(&p);
    }

    pub(super) fn holds(&self, p: i32) -> bool {
        self.partitions.contains_key(&p)
    }

    /// Assigned partition numbers.
    pub(super) fn numbers(&self) -> Vec<i32> {
        self.partitions.keys().copied().collect()
    }

    /// Input offsets to commit: after the last record handed out of each topic-partition.
    ///
    /// `settled`: every record polled so far has been enqueued here (not so inside a rebalance
    /// callback, which can run while a polled batch waits). Then an empty queue commits the
    /// consumer's position when it is further: what lies between is transaction markers and
    /// aborted records a read_committed consumer steps over. Without that, a topic written in
    /// transactions (`tw.evidence.by-vin`, or any transactional upstream) never shows as
    /// consumed to its end (KAFKA-6607).
    pub(super) fn offsets<C: ConsumerContext>(
        &self,
        settled: Option<&BaseConsumer<C>>,
    ) -> anyhow::Result<TopicPartitionList> {
        let positions = settled.and_then(|c| c.position().ok());
        let mut tpl = TopicPartitionList::new();
        for (&p, queues) in &self.partitions {
            for (topic, q) in queues {
                if let Some(next) =
                    q.next_offset
                        .max(Self::stepped(positions.as_ref(), topic, p, q))
                {
                    tpl.add_partition_offset(topic, p, Offset::Offset(next))?;
                }
            }
        }
        Ok(tpl)
    }

    /// The consumer's position for an empty queue, when past what was handed out.
    fn stepped(
        positions: Option<&TopicPartitionList>,
        topic: &str,
        p: i32,
        q: &Queue,
    ) -> Option<i64> {
        if !q.records.is_empty() {
            return None;
        }
        let position = match positions?.find_partition(topic, p)?.offset() {
            Offset::Offset(o) => o,
            _ => return None,
        };
        (Some(position) > q.next_offset).then_some(position)
    }

    /// Whether a commit would move an offset even with nothing processed: the consumer stepped
    /// over transaction markers (`settled`, as in `offsets`).
    pub(super) fn stepped_over<C: ConsumerContext>(&self, consumer: &BaseConsumer<C>) -> bool {
        let Ok(positions) = consumer.position() else {
            return false;
        };
        self.partitions.iter().any(|(&p, queues)| {
            queues.iter().any(|(topic, q)| {
                Self::stepped(Some(&positions), topic, p, q).is_some_and(|o| Some(o) > q.committed)
            })
        })
    }

    /// Records a successful commit of `tpl`.
    pub(super) fn committed(&mut self, tpl: &TopicPartitionList) {
        for e in tpl.elements() {
            if let (Some(q), Offset::Offset(o)) = (
                self.partitions
                    .get_mut(&e.partition())
                    .and_then(|qs| qs.get_mut(e.topic())),
                e.offset(),
            ) {
                q.committed = Some(o);
            }
        }
    }

    pub(super) fn enqueue(&mut self, record: Record) {
        let Some(topic_queues) = self.partitions.get_mut(&record.partition) else {
            return;
        };
        if let Some(q) = topic_queues.get_mut(&record.topic) {
            q.caught_up = false;
            q.bytes += size(&record);
            q.records.push_back(record);
        }
    }

    /// Whether an empty queue may be passed over: the partition has no unread records (its
    /// position, or where consumption started, is at the high watermark of librdkafka's last
    /// fetch); or it has unread records and has held the others back for `UNREAD_WAIT`; or no
    /// fetch has said yet and it has waited `merge_wait`. Checks at most every `RECHECK`.
    fn may_pass<C: ConsumerContext>(
        consumer: &BaseConsumer<C>,
        merge_wait: Duration,
        topic: &str,
        p: i32,
        q: &mut Queue,
        now: Instant,
    ) -> bool {
        let waited = now.duration_since(q.empty_since);
        if q.caught_up || waited >= UNREAD_WAIT {
            return true;
        }
        if q.checked_at
            .is_some_and(|t| now.duration_since(t) < RECHECK)
        {
            return false;
        }
        q.checked_at = Some(now);
        let position =
            consumer
                .position()
                .ok()
                .and_then(|tpl| match tpl.find_partition(topic, p)?.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                });
        let next = position.or(q.next_offset).or(q.start);
        let watermarks = cached_watermarks(consumer, topic, p).or(q.watermarks_at_start);
        match (next, watermarks) {
            (Some(next), Some((_, high))) | (None, Some((next, high))) => {
                q.caught_up = next >= high;
                q.caught_up
            }
            (_, None) => waited >= merge_wait,
        }
    }

    /// The record time partition `p` may not run past: the oldest unprocessed record of a
    /// plate-keyed topic (on any partition number: it may resolve to a vehicle of `p`), or no
    /// time at all while such a topic is empty and may not be passed (its records may not have
    /// been fetched yet, as after a restore); and the oldest resolved record sent from here for
    /// `p` and not read back (forgotten after `RESOLVED_WAIT`).
    fn frontier<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        p: i32,
        now: Instant,
    ) -> i64 {
        let merge_wait = self.merge_wait;
        let mut oldest = i64::MAX;
        for (&number, qs) in &mut self.partitions {
            for (topic, q) in qs.iter_mut().filter(|(_, q)| q.role == Role::PlateKeyed) {
                let head = q.records.front().map(|r| r.timestamp);
                oldest = oldest.min(match head {
                    Some(t) => t,
                    None if Self::may_pass(consumer, merge_wait, topic, number, q, now) => i64::MAX,
                    None => i64::MIN,
                });
            }
        }
        if let Some(at) = self.in_flight.get_mut(&p) {
            at.retain(|_, sent| {
                sent.retain(|t| now.duration_since(*t) < RESOLVED_WAIT);
                !sent.is_empty()
            });
            if let Some((&t, _)) = at.first_key_value() {
                oldest = oldest.min(t);
            }
        }
        oldest
    }

    /// The next record of partition `p` in merged timestamp order, or `None` to wait.
    /// `now`: the caller's clock reading for this drain (one reading serves many records).
    pub(super) fn next<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        p: i32,
        now: Instant,
    ) -> Option<Record> {
        let merge_wait = self.merge_wait;
        let frontier = self.frontier(consumer, p, now);
        let queues = self.partitions.get_mut(&p)?;
        for (topic, q) in queues.iter_mut() {
            if q.records.is_empty() && !Self::may_pass(consumer, merge_wait, topic, p, q, now) {
                return None;
            }
        }
        let q = queues
            .values_mut()
            .filter(|q| !q.records.is_empty())
            .min_by_key(|q| (q.records[0].timestamp, q.rank, q.records[0].offset))?;
        let head = q.records[0].timestamp;
        if head > frontier && q.role != Role::Resolved {
            return None;
        }
        let record = q.records.pop_front()?;
        q.bytes -= size(&record);
        q.next_offset = Some(record.offset + 1);
        if q.records.is_empty() {
            q.empty_since = now;
            q.checked_at = None;
        }
        if q.role == Role::Resolved {
            if let Some(at) = self.in_flight.get_mut(&p) {
                if let Some(sent) = at.get_mut(&record.timestamp) {
                    sent.pop();
                    if sent.is_empty() {
                        at.remove(&record.timestamp);
                    }
                }
            }
        }
        Some(record)
    }
}

/// The low and high watermarks librdkafka last saw in a fetch response for this partition,
/// without asking the broker (`None` before the first fetch).
fn cached_watermarks<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    p: i32,
) -> Option<(i64, i64)> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `consumer` lives; the topic is a valid C string
    // and the out-pointers point at live locals. The call only reads librdkafka's cached
    // partition state.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            p,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some((low.max(0), high))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(topic: &str, p: i32, offset: i64) -> Record {
        Record {
            topic: topic.to_owned(),
            partition: p,
            offset,
            timestamp: offset,
            key: Some(b"LSVNV2182E2100001".to_vec()),
            headers: Default::default(),
            value: Some(vec![0; 100]),
        }
    }

    /// A full queue pauses its topic-partition and resumes it once half drained; the others
    /// are left alone.
    #[test]
    fn a_full_queue_pauses_its_partition_until_half_drained() {
        // Never connects: `next` asks the consumer only about empty queues.
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .set("group.id", "merge-test")
            .create()
            .unwrap();
        let bounds = Bounds {
            records: 8,
            bytes: usize::MAX,
        };
        let mut merge = Merge::new(Duration::from_secs(1), bounds);
        merge.add("a", 0, 0, Role::Vehicle, None, None);
        merge.add("a", 1, 0, Role::Vehicle, None, None);
        for o in 0..4 {
            merge.enqueue(record("a", 0, o));
        }
        merge.enqueue(record("a", 1, 0));
        let (pause, resume) = merge.flow();
        let paused: Vec<_> = pause.elements().iter().map(|e| e.partition()).collect();
        assert_eq!(paused, [0], "each of 2 queues may hold 4");
        assert_eq!(resume.count(), 0);
        assert_eq!(merge.flow().0.count(), 0, "paused once");
        assert_eq!(merge.held().0, 5);
        assert!(merge.held().1 > 500);

        let now = Instant::now();
        merge.next(&consumer, 0, now).unwrap();
        assert_eq!(merge.flow().1.count(), 0, "3 left: above half");
        merge.next(&consumer, 0, now).unwrap();
        let (_, resume) = merge.flow();
        let resumed: Vec<_> = resume.elements().iter().map(|e| e.partition()).collect();
        assert_eq!(resumed, [0]);
    }
}
