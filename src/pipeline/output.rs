//! What processing produces (`Emitted`) and the one way it reaches its destinations (`Sink`):
//! the Kafka transaction, the offline output files and the metrics tally each implement
//! `Sink`, and only `Emitted::deliver` matches the outputs. A new output is a new variant and
//! a new `Sink` method, which every destination must then write.

use crate::proto;
use crate::recording::Record;

/// One output of processing, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Emitted {
    Blacklist(proto::BlacklistEvent),
    /// What neighbouring provinces may know of a blacklist event (`tw.shared.overlimit`).
    Shared(proto::SharedOverlimit),
    Case(proto::EnforcementCase),
    /// A record goes to the DLQ with this reason (a `DecodeError::reason` or `late`): the one
    /// processed, or offline, a record resolved evidence made.
    Dlq {
        record: Box<Record>,
        reason: &'static str,
        message: String,
    },
    /// Held plate-only evidence given up: its original record goes to the DLQ.
    GivenUp {
        record: Box<Record>,
        reason: &'static str,
        message: String,
    },
    /// Plate-only evidence resolved to a VIN: this record goes to `tw.evidence.by-vin`.
    Resolved(Record),
    /// A changelog write for held plate-only evidence on `partition` (`None`: no longer held).
    Held {
        partition: i32,
        key: String,
        value: Option<Vec<u8>>,
    },
}

/// A destination of outputs, one method per kind of output.
pub trait Sink {
    type Error;
    fn blacklist(&mut self, event: &proto::BlacklistEvent) -> Result<(), Self::Error>;
    fn shared(&mut self, shared: &proto::SharedOverlimit) -> Result<(), Self::Error>;
    fn case(&mut self, case: &proto::EnforcementCase) -> Result<(), Self::Error>;
    fn dlq(
        &mut self,
        record: &Record,
        reason: &'static str,
        message: &str,
    ) -> Result<(), Self::Error>;
    fn given_up(
        &mut self,
        record: &Record,
        reason: &'static str,
        message: &str,
    ) -> Result<(), Self::Error>;
    fn resolved(&mut self, record: &Record) -> Result<(), Self::Error>;
    fn held(&mut self, partition: i32, key: &str, value: Option<&[u8]>) -> Result<(), Self::Error>;
}

impl Emitted {
    /// Hands this output to `sink`.
    pub fn deliver<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
        match self {
            Emitted::Blacklist(e) => sink.blacklist(e),
            Emitted::Shared(s) => sink.shared(s),
            Emitted::Case(c) => sink.case(c),
            Emitted::Dlq {
                record,
                reason,
                message,
            } => sink.dlq(record, reason, message),
            Emitted::GivenUp {
                record,
                reason,
                message,
            } => sink.given_up(record, reason, message),
            Emitted::Resolved(r) => sink.resolved(r),
            Emitted::Held {
                partition,
                key,
                value,
            } => sink.held(*partition, key, value.as_deref()),
        }
    }
}
