//! Metric names and the Prometheus recorder: the only module that names metrics.
//!
//! Prometheus conventions: `tailwatch_` prefix, base units, `_total` counters, and only
//! low-cardinality labels (topic, partition, rule, reason, field, outcome) — never a VIN.
//! Hot paths count into plain integers (`kafka::service` tallies per commit interval) and
//! publish here once per commit, so a record costs no label lookups.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Input records taken for processing, by topic.
pub const RECORDS_CONSUMED: &str = "tailwatch_records_consumed_total";
/// Records rejected at decoding, by topic and reason (the DLQ reason).
pub const DECODE_REJECTS: &str = "tailwatch_decode_rejects_total";
/// Data-stream values absent from decoded samples, by field and reason.
pub const ABSENT_VALUES: &str = "tailwatch_absent_values_total";
/// Outputs published, by kind (blacklist_listed, blacklist_delisted, case) and rule.
pub const OUTPUTS: &str = "tailwatch_outputs_total";
/// Records sent to the DLQ, by reason.
pub const DLQ_RECORDS: &str = "tailwatch_dlq_records_total";
/// Evidence older than the grace period (also in the DLQ as `late`).
pub const LATE_RECORDS: &str = "tailwatch_late_records_total";
/// Samples or evidence seen before, ignored.
pub const DUPLICATES: &str = "tailwatch_duplicates_total";
/// Records whose VIN fails its check digit or charset (processed, flagged).
pub const VIN_FLAGGED: &str = "tailwatch_vin_flagged_records_total";
/// Plate-only evidence by outcome: resolved (to a VIN, at once or after being held), held (for
/// its registration), given_up (held too long or too many: in the DLQ as `unknown_plate`).
pub const PLATE_READS: &str = "tailwatch_plate_reads_total";
/// Plate-only evidence waiting for its registration on this instance.
pub const HELD_PLATE_READS: &str = "tailwatch_held_plate_reads";
/// Entry cases withheld because the vehicle's plate held an entry permit at the sighting (the
/// permit, issued to the plate, had not reached the vehicle's state yet).
pub const ENTRY_CASES_WITHHELD: &str = "tailwatch_entry_cases_withheld_total";
/// Plates (text and colour) in the global plate table.
pub const PLATE_TABLE_PLATES: &str = "tailwatch_plate_table_plates";
/// Registry records read into the global plate table.
pub const PLATE_TABLE_RECORDS: &str = "tailwatch_plate_table_records_total";
/// Time to restore the global plate table at start.
pub const PLATE_TABLE_RESTORE_DURATION: &str = "tailwatch_plate_table_restore_duration_seconds";
/// Failed transactions recovered in process (aborted, partitions rewound, producer renewed).
/// Records on a neighbour's mirrored shared topic its table's readers skipped, by reason.
pub const NEIGHBOUR_REJECTS: &str = "tailwatch_neighbour_rejects_total";
pub const RECOVERIES: &str = "tailwatch_recoveries_total";
/// Changelog records this release cannot read, by outcome (halted: the partition waits;
/// dead_lettered: in the DLQ as `unreadable_state`).
pub const UNREADABLE_STATES: &str = "tailwatch_unreadable_states_total";
/// Input records fetched and waiting in the merge (bounded by `merge_max_records`).
pub const MERGE_HELD_RECORDS: &str = "tailwatch_merge_held_records";
/// Their bytes (bounded by `merge_max_bytes`).
pub const MERGE_HELD_BYTES: &str = "tailwatch_merge_held_bytes";
/// Transactions, by outcome (committed, failed).
pub const TRANSACTIONS: &str = "tailwatch_transactions_total";
/// Time to deliver a transaction's outputs and commit it.
pub const COMMIT_DURATION: &str = "tailwatch_commit_duration_seconds";
/// Time to process one polled batch of records.
pub const PROCESSING_DURATION: &str = "tailwatch_processing_duration_seconds";
/// Wall clock minus the newest processed evidence time, by partition.
pub const EVENT_TIME_LAG: &str = "tailwatch_event_time_lag_seconds";
/// Records not yet consumed (librdkafka statistics), by topic and partition.
pub const CONSUMER_LAG: &str = "tailwatch_consumer_lag_records";
/// Vehicles held in memory, by partition.
pub const TRACKED_VEHICLES: &str = "tailwatch_tracked_vehicles";
/// Time to restore one partition from the changelog.
pub const RESTORE_DURATION: &str = "tailwatch_restore_duration_seconds";
/// Vehicles restored from the changelog.
pub const RESTORED_VEHICLES: &str = "tailwatch_restored_vehicles_total";
/// Changelog records still to read by partitions being restored.
pub const RESTORE_REMAINING: &str = "tailwatch_restore_remaining_records";
/// Errors the group consumer reported instead of records, by reason (the librdkafka error code
/// in snake case). No topic label: rdkafka does not say which partition an error is about.
pub const CONSUMER_ERRORS: &str = "tailwatch_consumer_errors_total";
/// Input partitions with unread records and no progress since a consumer error for
/// `stall_timeout`, by topic.
pub const STALLED_PARTITIONS: &str = "tailwatch_stalled_partitions";
/// Partition numbers assigned to this instance.
pub const ASSIGNED_PARTITIONS: &str = "tailwatch_assigned_partitions";
/// 1 when every assigned partition is restored and no input partition is stalled.
pub const READY: &str = "tailwatch_ready";
/// Constant 1, labelled with the version.
pub const BUILD_INFO: &str = "tailwatch_build_info";

/// Installs the process-wide recorder (once; later calls return the first handle).
pub fn install() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let seconds = [
                0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                60.0, 120.0, 300.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
                .expect("bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "A metrics recorder was already installed; /metrics shows only its own."
                );
            }
            describe();
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(RECORDS_CONSUMED, "Input records taken for processing.");
    describe_counter!(DECODE_REJECTS, "Input records rejected at decoding.");
    describe_counter!(ABSENT_VALUES, "Data-stream values absent, by reason.");
    describe_counter!(
        OUTPUTS,
        "Blacklist events, shared listings and cases published."
    );
    describe_counter!(
        NEIGHBOUR_REJECTS,
        "Unreadable records on neighbours' mirrored shared topics, skipped."
    );
    describe_counter!(DLQ_RECORDS, "Records sent to the dead-letter topic.");
    describe_counter!(LATE_RECORDS, "Evidence beyond the grace period.");
    describe_counter!(DUPLICATES, "Samples or evidence already seen, ignored.");
    describe_counter!(VIN_FLAGGED, "Records whose VIN fails its check digit.");
    describe_counter!(TRANSACTIONS, "Kafka transactions by outcome.");
    describe_gauge!(MERGE_HELD_RECORDS, "Input records waiting in the merge.");
    describe_gauge!(
        MERGE_HELD_BYTES,
        Unit::Bytes,
        "Bytes of input records waiting in the merge."
    );
    describe_counter!(RECOVERIES, "Failed transactions recovered in process.");
    describe_counter!(
        UNREADABLE_STATES,
        "Changelog records this release cannot read, by outcome."
    );
    describe_histogram!(
        COMMIT_DURATION,
        Unit::Seconds,
        "Delivering and committing one transaction."
    );
    describe_histogram!(
        PROCESSING_DURATION,
        Unit::Seconds,
        "Processing one polled batch."
    );
    describe_gauge!(
        EVENT_TIME_LAG,
        Unit::Seconds,
        "Wall clock minus the newest evidence time."
    );
    describe_gauge!(
        CONSUMER_LAG,
        "Records not yet consumed, from librdkafka statistics."
    );
    describe_gauge!(TRACKED_VEHICLES, "Vehicles held in memory.");
    describe_histogram!(
        RESTORE_DURATION,
        Unit::Seconds,
        "Restoring a partition from the changelog."
    );
    describe_counter!(RESTORED_VEHICLES, "Vehicles restored from the changelog.");
    describe_gauge!(RESTORE_REMAINING, "Changelog records still to read.");
    describe_counter!(
        CONSUMER_ERRORS,
        "Errors the consumer reported instead of records."
    );
    describe_gauge!(
        STALLED_PARTITIONS,
        "Input partitions not moving since a consumer error."
    );
    describe_gauge!(
        ASSIGNED_PARTITIONS,
        "Partition numbers assigned to this instance."
    );
    describe_gauge!(
        READY,
        "1 when every assigned partition is restored and none is stalled."
    );
    describe_gauge!(BUILD_INFO, "Build information.");
}
