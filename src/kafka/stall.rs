//! Which input partitions a consumer error holds still, so that a stall is never silent.
//!
//! librdkafka reports a failure it cannot get past (a batch it cannot decompress, a fetch the
//! broker keeps refusing) as a consumer error instead of a record, and tries again after a
//! back-off, for ever: the partition stops while the process looks healthy. rdkafka hands the
//! error over without its topic and partition (only librdkafka's code and message), so a stall
//! is recognised by its effect: an input partition with unread records on the broker that has
//! not moved since a consumer error, for `stall_timeout`.
//!
//! Bookkeeping only: the service feeds it instants (errors as they are polled, positions and
//! end offsets from librdkafka's statistics). No Kafka calls and no clock of its own, so tests
//! drive it with made-up times.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

/// The stall watch of one service instance.
pub(super) struct Stalls {
    timeout: Duration,
    /// Consumer errors so far; each partition remembers the count when it last moved.
    errors: u64,
    last_error: Option<LastError>,
    partitions: BTreeMap<(String, i32), Watch>,
    /// Every input topic ever watched, so a per-topic gauge falls back to zero even after its
    /// partitions are revoked.
    topics: BTreeSet<String>,
    /// Stalled at the last `changes` call, so each stall is logged when it begins and ends.
    reported: BTreeSet<(String, i32)>,
}

struct LastError {
    reason: String,
    message: String,
}

/// One input topic-partition.
struct Watch {
    /// Offset of the next record librdkafka hands over, once known.
    position: Option<i64>,
    /// Records on the broker past `position`, at the last observation.
    unread: i64,
    /// When the position last moved (or tracking began).
    since: Instant,
    /// `Stalls::errors` at `since`.
    errors_before: u64,
}

/// An input partition that has not moved since a consumer error, for at least the timeout.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stall {
    pub topic: String,
    pub partition: i32,
    /// Records on the broker past the consumer's position.
    pub unread: i64,
    /// Whole seconds without progress.
    pub seconds: u64,
    /// Consumer errors since the partition last moved.
    pub errors: u64,
    /// The latest consumer error: its kind (the metric's `reason`) and librdkafka's message.
    pub reason: String,
    pub error: String,
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} partition {}: {} records unread, no progress for {} s, {} consumer errors since \
             (the latest {}: {})",
            self.topic,
            self.partition,
            self.unread,
            self.seconds,
            self.errors,
            self.reason,
            self.error
        )
    }
}

impl Stalls {
    pub(super) fn new(timeout: Duration) -> Stalls {
        Stalls {
            timeout,
            errors: 0,
            last_error: None,
            partitions: BTreeMap::new(),
            topics: BTreeSet::new(),
            reported: BTreeSet::new(),
        }
    }

    pub(super) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// A consumer error was polled.
    pub(super) fn error(&mut self, reason: &str, message: &str) {
        self.errors += 1;
        self.last_error = Some(LastError {
            reason: reason.to_owned(),
            message: message.to_owned(),
        });
    }

    /// Starts watching an input topic-partition (assigned and restored at `at`).
    pub(super) fn track(&mut self, at: Instant, topic: &str, partition: i32) {
        let watch = Watch {
            position: None,
            unread: 0,
            since: at,
            errors_before: self.errors,
        };
        self.partitions.insert((topic.to_owned(), partition), watch);
        if !self.topics.contains(topic) {
            self.topics.insert(topic.to_owned());
        }
    }

    /// Stops watching every input topic of a revoked partition number.
    pub(super) fn forget(&mut self, partition: i32) {
        self.partitions.retain(|(_, p), _| *p != partition);
        self.reported.retain(|(_, p)| *p != partition);
    }

    /// What librdkafka's statistics say of a watched topic-partition at `at`: the consumer's
    /// position and the end offset on the broker (last stable offset: committed reads only).
    /// The first position known is not a move: the watch started at assignment.
    pub(super) fn observe(
        &mut self,
        at: Instant,
        topic: &str,
        partition: i32,
        position: Option<i64>,
        end: Option<i64>,
    ) {
        let Some(w) = self.partitions.get_mut(&(topic.to_owned(), partition)) else {
            return;
        };
        if position.is_some() && position != w.position {
            if w.position.is_some() {
                w.since = at;
                w.errors_before = self.errors;
            }
            w.position = position;
        }
        w.unread = match (w.position, end) {
            (Some(position), Some(end)) => (end - position).max(0),
            _ => 0,
        };
    }

    /// The watched partitions stalled at `now`, in topic and partition order.
    pub(super) fn stalled(&self, now: Instant) -> Vec<Stall> {
        let Some(last) = &self.last_error else {
            return Vec::new();
        };
        self.partitions
            .iter()
            .filter_map(|((topic, partition), w)| {
                let still = now.saturating_duration_since(w.since);
                let errors = self.errors - w.errors_before;
                (w.unread > 0 && errors > 0 && still >= self.timeout).then(|| Stall {
                    topic: topic.clone(),
                    partition: *partition,
                    unread: w.unread,
                    seconds: still.as_secs(),
                    errors,
                    reason: last.reason.clone(),
                    error: last.message.clone(),
                })
            })
            .collect()
    }

    /// The stalls at `now`, with those that began and ended since the last call.
    pub(super) fn changes(&mut self, now: Instant) -> (Vec<Stall>, Vec<Stall>, Vec<(String, i32)>) {
        let stalled = self.stalled(now);
        let keys: BTreeSet<(String, i32)> = stalled
            .iter()
            .map(|s| (s.topic.clone(), s.partition))
            .collect();
        let began = stalled
            .iter()
            .filter(|s| !self.reported.contains(&(s.topic.clone(), s.partition)))
            .cloned()
            .collect();
        let ended = self.reported.difference(&keys).cloned().collect();
        self.reported = keys;
        (stalled, began, ended)
    }

    /// Every input topic ever watched (for per-topic gauges that must fall back to zero).
    pub(super) fn topics(&self) -> BTreeSet<String> {
        self.topics.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(60);

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    /// One partition of `raw`, assigned at t0 with 100 records unread at position 0.
    fn watched() -> (Stalls, Instant) {
        let t0 = Instant::now();
        let mut stalls = Stalls::new(TIMEOUT);
        stalls.track(t0, "raw", 2);
        stalls.observe(secs(t0, 5), "raw", 2, Some(0), Some(100));
        (stalls, t0)
    }

    const DECOMPRESSION: &str =
        "Decompression (codec 0x4) of message at 0 of 5120 bytes failed: Local: Not implemented";

    #[test]
    fn a_repeating_error_without_progress_stalls_the_partition_after_the_timeout() {
        let (mut stalls, t0) = watched();
        for s in 1..=70 {
            stalls.error("not_implemented", DECOMPRESSION);
            stalls.observe(secs(t0, s), "raw", 2, Some(0), Some(100));
            let stalled = stalls.stalled(secs(t0, s));
            if s < 60 {
                assert!(stalled.is_empty(), "stalled after {s} s: {stalled:?}");
            } else {
                assert_eq!(stalled.len(), 1, "{s} s");
            }
        }
        let stall = &stalls.stalled(secs(t0, 70))[0];
        assert_eq!((stall.topic.as_str(), stall.partition), ("raw", 2));
        assert_eq!((stall.unread, stall.seconds, stall.errors), (100, 70, 70));
        assert_eq!(stall.reason, "not_implemented");
        let text = stall.to_string();
        assert!(
            text.starts_with("raw partition 2: 100 records unread"),
            "{text}"
        );
        assert!(text.contains(DECOMPRESSION), "{text}");
    }

    #[test]
    fn an_error_reported_once_still_stalls_a_partition_that_never_moves() {
        // librdkafka reports some errors only once (topic authorization) and stops fetching.
        let (mut stalls, t0) = watched();
        stalls.error("topic_authorization_failed", "Fetch from broker 1 failed");
        assert!(stalls.stalled(secs(t0, 59)).is_empty());
        assert_eq!(stalls.stalled(secs(t0, 60)).len(), 1);
    }

    #[test]
    fn progress_clears_the_stall_and_restarts_the_clock() {
        let (mut stalls, t0) = watched();
        stalls.error("not_implemented", DECOMPRESSION);
        assert_eq!(stalls.stalled(secs(t0, 61)).len(), 1);
        stalls.observe(secs(t0, 62), "raw", 2, Some(40), Some(100));
        assert!(stalls.stalled(secs(t0, 62)).is_empty(), "moved");
        // Still behind and no new error: the lag alert's business, not a stall.
        assert!(stalls.stalled(secs(t0, 200)).is_empty());
        stalls.error("not_implemented", DECOMPRESSION);
        assert!(stalls.stalled(secs(t0, 121)).is_empty());
        assert_eq!(
            stalls.stalled(secs(t0, 122)).len(),
            1,
            "a new error, 60 s still"
        );
    }

    #[test]
    fn errors_do_not_stall_partitions_with_nothing_unread() {
        let (mut stalls, t0) = watched();
        stalls.observe(secs(t0, 10), "raw", 2, Some(100), Some(100));
        stalls.error("all_brokers_down", "1/1 brokers are down");
        assert!(stalls.stalled(secs(t0, 500)).is_empty(), "caught up");
        // Nothing known yet about a freshly tracked partition: no stall either.
        stalls.track(secs(t0, 10), "raw", 3);
        stalls.error("all_brokers_down", "1/1 brokers are down");
        assert!(stalls.stalled(secs(t0, 500)).is_empty(), "unknown position");
    }

    #[test]
    fn the_first_position_known_is_not_progress() {
        let t0 = Instant::now();
        let mut stalls = Stalls::new(TIMEOUT);
        stalls.track(t0, "raw", 0);
        stalls.error("not_implemented", DECOMPRESSION);
        stalls.observe(secs(t0, 30), "raw", 0, Some(0), Some(8));
        assert_eq!(stalls.stalled(secs(t0, 60)).len(), 1);
    }

    #[test]
    fn a_revoked_partition_is_forgotten_and_transitions_are_reported_once() {
        let (mut stalls, t0) = watched();
        stalls.track(t0, "permits", 2);
        stalls.observe(secs(t0, 5), "permits", 2, Some(3), Some(3));
        stalls.error("not_implemented", DECOMPRESSION);
        let (now, began, ended) = stalls.changes(secs(t0, 60));
        assert_eq!((now.len(), began.len(), ended.len()), (1, 1, 0));
        let (now, began, ended) = stalls.changes(secs(t0, 65));
        assert_eq!((now.len(), began.len(), ended.len()), (1, 0, 0));
        stalls.observe(secs(t0, 70), "raw", 2, Some(100), Some(100));
        let (now, began, ended) = stalls.changes(secs(t0, 70));
        assert_eq!((now.len(), began.len()), (0, 0));
        assert_eq!(ended, vec![("raw".to_owned(), 2)]);
        stalls.forget(2);
        assert!(stalls.stalled(secs(t0, 500)).is_empty(), "forgotten");
        let topics: Vec<String> = stalls.topics().into_iter().collect();
        assert_eq!(
            topics,
            ["permits", "raw"],
            "kept, so their gauges go back to 0"
        );
    }
}
