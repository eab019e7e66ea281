//! Resident memory per tracked vehicle: fills a `StateStore` with 1,000,000 vehicles whose
//! states are non-trivial (each has seen registration, a report and an inspection) and reports
//! the growth of the process's resident set divided by the vehicle count. Then the same for
//! the global plate table: 1,000,000 registrations (one plate each), resident growth per plate.
//! Run: `cargo bench --bench state_memory`.

#![allow(clippy::disallowed_methods)]

use std::sync::Arc;

use tailwatch::config;
use tailwatch::engine;
use tailwatch::model::{
    Celsius, Event, EventKind, EventTime, Kilometres, Kmh, Percent, Plate, PlateColour, Position,
    Ppm, RecordRef, Registration, Report, Rpm, Sample, Secs, Vin,
};
use tailwatch::state::StateStore;

const VEHICLES: u32 = 1_000_000;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn vin(n: u32) -> Vin {
    let mut bytes = *b"LGDCH000000000000";
    let digits = format!("{n:08}");
    bytes[9..17].copy_from_slice(digits.as_bytes());
    Vin::with_check_digit(bytes).expect("valid characters")
}

/// Each layout is measured in a fresh child process so freed memory of one cannot hide the
/// growth of the next.
fn main() {
    if let Ok(partitions) = std::env::var("TAILWATCH_BENCH_PARTITIONS") {
        measure(partitions.parse().expect("partition count"));
        return;
    }
    if std::env::var_os("TAILWATCH_BENCH_PLATES").is_some() {
        plates();
        return;
    }
    for partitions in [1, 12] {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .env("TAILWATCH_BENCH_PARTITIONS", partitions.to_string())
            .status()
            .expect("child runs");
        assert!(status.success());
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .env("TAILWATCH_BENCH_PLATES", "1")
        .status()
        .expect("child runs");
    assert!(status.success());
}

/// The plate table with 1,000,000 vehicles, one plate each: resident growth per plate, and
/// the time to insert them (the table's share of a restore from Kafka).
fn plates() {
    let provinces = ["冀", "津", "鲁", "豫", "晋", "蒙", "辽", "京"];
    let serial = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    let plate = |n: u32| {
        let mut text = String::from(provinces[(n % 8) as usize]);
        text.push(char::from(b'A' + (n / 8 % 26) as u8));
        let mut rest = n / 8 / 26;
        for _ in 0..5 {
            text.push(char::from(serial[(rest % 34) as usize]));
            rest /= 34;
        }
        Plate::parse(&text).expect("well-formed")
    };
    let inputs: Vec<(Vin, Plate)> = (0..VEHICLES).map(|n| (vin(n), plate(n))).collect();
    let before = resident_bytes();
    let started = std::time::Instant::now();
    let mut table = tailwatch::plates::PlateTable::new();
    for &(vin, plate) in &inputs {
        table.register(vin, plate, PlateColour::Yellow, Secs(100));
    }
    let elapsed = started.elapsed();
    let after = resident_bytes();
    assert_eq!(table.plates(), VEHICLES as usize);
    println!(
        "plate_table: {VEHICLES} registrations inserted in {:.2} s; resident growth {:.1} MiB = {:.1} B per plate (heap by capacity {:.1} B per plate)",
        elapsed.as_secs_f64(),
        (after - before) as f64 / (1024.0 * 1024.0),
        (after - before) as f64 / f64::from(VEHICLES),
        table.heap_bytes() as f64 / f64::from(VEHICLES),
    );
}

fn measure(partitions: i32) {
    let rules = config::default_rules();
    let topic: Arc<str> = Arc::from("tw.telemetry");
    let plate = Plate::parse("冀F12345").unwrap();
    let t0 = 1_793_577_600i64;
    let store = StateStore::new();
    let before = resident_bytes();
    for n in 0..VEHICLES {
        let vin = vin(n);
        let source = RecordRef {
            topic: topic.clone(),
            partition: 0,
            offset: i64::from(n),
        };
        let t = t0 + i64::from(n % 3600);
        let sample = Sample {
            time: EventTime::from_unix_secs(t),
            time_from_frame: false,
            speed: Ok(Kmh(40.0)),
            engine_rpm: Ok(Rpm(1300.0)),
            coolant: Ok(Celsius(85.0)),
            scr_inlet: Ok(Celsius(300.0)),
            nox_upstream: Ok(Ppm(700.0)),
            nox_downstream: Ok(Ppm(60.0)),
            reagent: Ok(Percent(50.0)),
            position: Some(Position {
                valid: true,
                lon: 116.4,
                lat: 39.9,
            }),
            odometer: Ok(Kilometres(1000.0)),
        };
        let events = [
            EventKind::Registration(Registration {
                plate,
                colour: None,
                from: None,
                profile: Default::default(),
            }),
            EventKind::Report(Report {
                backfill: false,
                samples: vec![sample],
                obd: vec![],
            }),
        ];
        let partition = (n % partitions as u32) as i32;
        for kind in events {
            let event = Event {
                vin,
                time: EventTime::from_unix_secs(t),
                source: source.clone(),
                kind,
            };
            store.update(partition, vin, |s| {
                engine::evaluate(&rules, s, &event, &Default::default())
            });
        }
    }
    let after = resident_bytes();
    assert_eq!(store.len(), VEHICLES as usize);
    let per_vehicle = (after - before) as f64 / f64::from(VEHICLES);
    println!(
        "state_memory: {VEHICLES} vehicles in {partitions} partition(s), VehicleState {} B inline, resident growth {:.1} MiB = {per_vehicle:.1} B per vehicle",
        std::mem::size_of::<engine::VehicleState>(),
        (after - before) as f64 / (1024.0 * 1024.0),
    );
}
