//! Generated protobuf types (prost) with their canonical JSON mapping (pbjson). The only module
//! that names generated code; everything else converts at the edge through `decode`.

#![allow(clippy::all, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/tailwatch.v1.rs"));
include!(concat!(env!("OUT_DIR"), "/tailwatch.v1.serde.rs"));
