//! Decoding a real-time frame allocates per frame, never per stream body: a counting global
//! allocator shows that one and ten stream bodies cost the same number of allocations, in
//! every dialect.
//!
//! Its own test binary because the allocator is process-wide; counts are per thread so the
//! test harness's own allocations do not leak in.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tailwatch::decode::frame::{
    decode, encode, Body, Content, DataUnit, Dialect, DialectChoice, Dtc, Frame, Info, ObdBody,
    SerialAt, Signature, Signing, StreamBody, StreamField,
};
use tailwatch::model::EventTime;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during<T>(f: impl FnOnce() -> T) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    let after = ALLOCATIONS.with(Cell::get);
    drop(out);
    after - before
}

fn sig() -> Signature {
    Signature::new(&[1; 32], &[2; 32]).expect("halves of 32 bytes")
}

fn realtime(dialect: Dialect, streams: usize) -> Vec<u8> {
    realtime_with(dialect, streams, None)
}

/// `streams` stream bodies after an optional leading OBD body.
fn realtime_with(dialect: Dialect, streams: usize, obd: Option<ObdBody>) -> Vec<u8> {
    // 2024-03-15 10:20:30 Beijing.
    let t0 = EventTime::from_unix_secs(1_710_469_230);
    let body = StreamBody::all_invalid()
        .with(StreamField::Speed, Ok(62.5))
        .and_then(|b| b.with(StreamField::NoxDownstream, Ok(120.0)))
        .expect("valid values");
    let infos = obd
        .map(|o| Info::Obd(Box::new(o)))
        .into_iter()
        .chain((0..streams).map(|_| Info::Stream(body)));
    let bodies: Vec<Body> = infos
        .enumerate()
        .map(|(i, info)| Body {
            collected_at: dialect
                .timed_bodies()
                .then(|| EventTime(t0.0 + 1000 * i as i64)),
            info,
            signature: (dialect.signing() == Signing::EachBody).then(sig),
            serial: (dialect.serial_at() == SerialAt::AfterEveryType).then_some(1),
        })
        .collect();
    let streams = bodies.len();
    let frame = Frame {
        vin_bytes: *b"LGDCHA1G8MA127733",
        software_version: Some(1),
        dialect,
        content: Content::Realtime(DataUnit {
            collected_at: t0,
            serial: if streams == 0 { 0 } else { 1 },
            bodies,
            signature: (dialect.signing() == Signing::End).then(sig),
        }),
    };
    encode(&frame).expect("a valid frame")
}

#[test]
fn stream_bodies_do_not_allocate() {
    for dialect in Dialect::ALL {
        for choice in [DialectChoice::Fixed(dialect), DialectChoice::Auto] {
            let one = realtime(dialect, 1);
            let ten = realtime(dialect, 10);
            let a1 = allocations_during(|| decode(&one, choice).expect("decodes"));
            let a10 = allocations_during(|| {
                let f = decode(&ten, choice).expect("decodes");
                assert_eq!(f.data_unit().map(|u| u.streams().count()), Some(10));
                f
            });
            // One allocation per frame, the body list. A one-body unit that two layouts read
            // alike (a body and a signature block: hybrid or signed-bodies; one body and a
            // serial: GB 17691 or a serial placement) is parsed twice by auto detection to
            // compare the readings.
            let tie = choice == DialectChoice::Auto;
            assert!(
                a1 <= 1 + usize::from(tie),
                "{dialect} {choice}: 1 body {a1}"
            );
            assert!(a10 <= 1, "{dialect} {choice}: {a10} allocations per frame");
        }
    }
}

/// With an OBD body (boxed: one allocation, and its DTC list another) the count still does
/// not grow with the stream bodies. Under auto detection a layout tried before the one that
/// fits may read the OBD body in full before it fails (two allocations more each); the layouts
/// after it keep nothing.
#[test]
fn an_obd_body_adds_its_own_allocations_only() {
    let obd = ObdBody {
        protocol_code: 0,
        mil_code: 1,
        diagnostic_support: 0,
        readiness: 0,
        vin_bytes: *b"LGDCHA1G8MA127733",
        calibration_id: *b"CAL123450000000000",
        cvn: *b"1A2B3C4D0000000000",
        iupr: [0; 36],
        dtcs: Some(vec![Dtc([0x20, 0x47, 0x00, 0xAF])]),
    };
    for dialect in Dialect::ALL {
        let fixed = DialectChoice::Fixed(dialect);
        let one = realtime_with(dialect, 1, Some(obd.clone()));
        let ten = realtime_with(dialect, 10, Some(obd.clone()));
        let count =
            |bytes: &[u8], choice| allocations_during(|| decode(bytes, choice).expect("decodes"));
        // The body list, the OBD box, its DTC list.
        assert_eq!(count(&one, fixed), 3, "{dialect}");
        assert_eq!(count(&ten, fixed), 3, "{dialect}");
        let auto = count(&ten, DialectChoice::Auto);
        assert_eq!(count(&one, DialectChoice::Auto), auto, "{dialect}");
        let tried_before = Dialect::ALL.iter().position(|d| *d == dialect).unwrap();
        assert!(auto <= 3 + 2 * tried_before, "{dialect} auto: {auto}");
    }
}
