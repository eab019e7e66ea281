//! Decoding a real-time frame allocates per frame, never per stream body: a counting global
//! allocator shows that one and ten stream bodies cost the same number of allocations, in
//! every dialect.
//!
//! Its own test binary because the allocator is process-wide; counts are per thread so the
//! test harness's own allocations do not leak in.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tailwatch::decode::frame::{
    decode, encode, Body, Content, DataUnit, Dialect, DialectChoice, Frame, Info, Signature,
    StreamBody, StreamField,
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

fn realtime(dialect: Dialect, streams: usize) -> Vec<u8> {
    // 2024-03-15 10:20:30 Beijing.
    let t0 = EventTime::from_unix_secs(1_710_469_230);
    let body = StreamBody::all_invalid()
        .with(StreamField::Speed, Ok(62.5))
        .and_then(|b| b.with(StreamField::NoxDownstream, Ok(120.0)))
        .expect("valid values");
    let bodies = (0..streams)
        .map(|i| Body {
            collected_at: dialect
                .timed_bodies()
                .then(|| EventTime(t0.0 + 1000 * i as i64)),
            info: Info::Stream(body),
        })
        .collect();
    let frame = Frame {
        vin_bytes: *b"LGDCHA1G8MA127733",
        software_version: 1,
        dialect,
        content: Content::Realtime(DataUnit {
            collected_at: t0,
            serial: 1,
            bodies,
            signature: dialect.signed().then_some(Signature {
                r: [1; 32],
                s: [2; 32],
            }),
        }),
    };
    encode(&frame).expect("a valid frame")
}

#[test]
fn stream_bodies_do_not_allocate() {
    for dialect in [Dialect::Gb17691, Dialect::Hj1239, Dialect::Hybrid] {
        for choice in [DialectChoice::Fixed(dialect), DialectChoice::Auto] {
            let one = realtime(dialect, 1);
            let ten = realtime(dialect, 10);
            let a1 = allocations_during(|| decode(&one, choice).expect("decodes"));
            let a10 = allocations_during(|| {
                let f = decode(&ten, choice).expect("decodes");
                assert_eq!(f.data_unit().map(|u| u.streams().count()), Some(10));
                f
            });
            assert_eq!(a1, a10, "{dialect} {choice}: 1 body {a1}, 10 bodies {a10}");
            assert!(a10 <= 1, "{dialect} {choice}: {a10} allocations per frame");
        }
    }
}
