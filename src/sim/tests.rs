//! Tests of the simulated stream as a whole: determinism, ordering, offsets, identities, the
//! fault deal, complete reissue of outages, and (through `oracle`) that the ground truth is
//! exactly what the stream shows.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;

use super::oracle::{fired, observe, secs, Unresolved, Waits};
use super::*;
use crate::config::rules_from_str;
use crate::model::Plate;
use crate::proto;

fn config(vehicles: usize, hours: u64, seed: u64) -> SimConfig {
    SimConfig {
        vehicles,
        duration_secs: hours * 3_600,
        seed,
        ..SimConfig::default()
    }
}

fn rules(overrides: &str) -> Rules {
    rules_from_str(Some(("test", overrides))).unwrap()
}

/// The default rules with the two long waits shortened so that a 6-hour run decides every
/// kind of fault.
fn shortened() -> Rules {
    rules("[mil_emission_fault]\nmin_duration = \"2h\"\n[data_gap]\nfill_within = \"1h\"")
}

fn telemetry(record: &Record) -> Option<proto::TerminalReport> {
    (record.topic == "tw.telemetry").then(|| {
        proto::TerminalReport::decode(record.value.as_deref().expect("no tombstones"))
            .expect("valid protobuf")
    })
}

#[test]
fn same_seed_same_stream_other_seed_other_stream() {
    let first: Vec<Record> = Simulation::new(config(150, 2, 9)).take(50_000).collect();
    let second: Vec<Record> = Simulation::new(config(150, 2, 9)).take(50_000).collect();
    assert_eq!(first.len(), 50_000);
    assert!(first == second, "two runs with one seed differ");
    let other: Vec<Record> = Simulation::new(config(150, 2, 10)).take(2_000).collect();
    assert_ne!(first[..2_000], other[..]);
}

/// A run too short to decide any fault is all clean vehicles, and each of them still drives
/// (a drive lasts 20 minutes at least).
#[test]
fn every_vehicle_drives_in_a_short_run() {
    let cfg = SimConfig {
        duration_secs: 25 * 60,
        ..config(30, 0, 4)
    };
    let reporting: BTreeSet<String> = Simulation::new(cfg)
        .filter_map(|r| telemetry(&r))
        .map(|t| t.vin)
        .collect();
    assert_eq!(reporting.len(), 30);
}

#[test]
fn the_stream_is_ordered_partitioned_and_well_formed() {
    let cfg = SimConfig {
        partitions: 3,
        ..config(80, 3, 2)
    };
    let start = cfg.start.unix_secs();
    let end_ms = cfg.start.0 + 3 * 3_600 * 1_000;
    let mut last_ts = i64::MIN;
    let mut next_offset: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut registered = BTreeSet::new();
    let mut reports = 0;
    let sim = Simulation::new(cfg);
    let late: BTreeSet<Vin> = sim
        .deal
        .late
        .iter()
        .map(|&i| sim.vehicles[i].id.vin)
        .collect();
    let strays: BTreeSet<String> = sim.stray_reads().iter().map(|s| s.plate.clone()).collect();
    assert!(!late.is_empty() && strays.len() == 6);
    let mut by_plate = 0;
    for record in sim {
        assert!(record.timestamp >= last_ts, "out of order at {record:?}");
        last_ts = record.timestamp;
        let key = record.key.clone().expect("keyed by VIN or plate");
        assert_eq!(record.partition, crate::topics::partition_for(&key, 3));
        let offset = next_offset
            .entry((record.topic.clone(), record.partition))
            .or_insert(0);
        assert_eq!(record.offset, *offset);
        *offset += 1;
        assert!(record.headers.is_empty());
        let value = record.value.as_deref().expect("no tombstones");
        // Plate-only evidence is keyed by the plate read: the plate of a registered vehicle,
        // or one of the stray reads.
        let plate_only = |vin: &str, plate: &str, colour: i32| {
            if !vin.is_empty() {
                return false;
            }
            assert_eq!(key, plate.as_bytes());
            if !strays.contains(plate) {
                Plate::parse(plate).expect("plates parse");
                assert_eq!(colour, proto::PlateColour::Yellow as i32);
            }
            true
        };
        match record.topic.as_str() {
            "tw.permits" => {
                let permit = proto::EntryPermit::decode(value).unwrap();
                if plate_only(&permit.vin, &permit.plate, permit.plate_colour) {
                    by_plate += 1;
                    continue;
                }
            }
            "tw.inspections" => {
                let inspection = proto::Inspection::decode(value).unwrap();
                let (plate, colour) = match inspection.kind.unwrap() {
                    proto::inspection::Kind::ManualCheck(c) => (c.plate, c.plate_colour),
                    proto::inspection::Kind::RemoteSensing(p) => (p.plate, p.plate_colour),
                };
                if plate_only(&inspection.vin, &plate, colour) {
                    by_plate += 1;
                    continue;
                }
                assert_eq!(inspection.vin.as_bytes(), key);
            }
            _ => {}
        }
        let vin = Vin::from_bytes(&key).expect("VIN-shaped key");
        assert!(vin.is_valid() && vin.as_str().starts_with('L'));
        match record.topic.as_str() {
            "tw.registry" => {
                let reg = proto::VehicleRegistration::decode(value).unwrap();
                assert_eq!(reg.vin, vin.as_str());
                Plate::parse(&reg.plate).expect("plates parse");
                assert_eq!(
                    (reg.emission_stage.as_str(), reg.fuel_type.as_str()),
                    ("China VI", "diesel")
                );
                assert_eq!(reg.plate_colour, proto::PlateColour::Yellow as i32);
                assert_eq!(reg.category, "N3");
                let from = secs(&reg.registered_from);
                assert!(secs(&reg.registration_date) <= from);
                assert!(from < start || from * 1_000 == record.timestamp, "{reg:?}");
                registered.insert(vin);
            }
            "tw.telemetry" => {
                assert!(
                    registered.contains(&vin) || late.contains(&vin),
                    "telemetry before registration"
                );
                let report = proto::TerminalReport::decode(value).unwrap();
                assert_eq!(report.vin, vin.as_str());
                if report.command == proto::Command::Realtime as i32 {
                    reports += 1;
                    let collected = secs(&report.collected_at);
                    let delay = record.timestamp - (collected + 10) * 1_000;
                    assert!((0..=2_000).contains(&delay), "{delay} ms");
                    assert!(record.timestamp <= end_ms + 2_000);
                    check_realtime(&report, collected);
                }
            }
            "tw.permits" | "tw.inspections" | "tw.reinspections" => {
                assert!(registered.contains(&vin) || late.contains(&vin))
            }
            other => panic!("unexpected topic {other}"),
        }
    }
    assert_eq!(registered.len(), 80);
    assert!(by_plate > 0);
    assert!(reports > 80 * 360, "only {reports} realtime reports");
}

/// Shape and ranges of a REALTIME (or REISSUE) report: domain.md §2 ranges, safe box.
fn check_realtime(report: &proto::TerminalReport, collected: i64) {
    assert_eq!(report.samples.len(), 10);
    for (i, s) in report.samples.iter().enumerate() {
        assert_eq!(secs(&s.sampled_at), collected + i as i64);
        let within = |v: Option<f64>, lo: f64, hi: f64| v.is_some_and(|v| (lo..=hi).contains(&v));
        assert!(
            within(s.speed_kmh, 0.0, 250.996) && within(s.atmospheric_pressure_kpa, 0.0, 125.0)
        );
        assert!(
            within(s.net_torque_pct, -125.0, 125.0) && within(s.friction_torque_pct, -125.0, 125.0)
        );
        assert!(within(s.engine_rpm, 600.0, 8_031.875) && within(s.fuel_flow_lph, 0.0, 3_212.75));
        assert!(
            within(s.nox_upstream_ppm, 0.0, 3_012.75)
                && within(s.nox_downstream_ppm, 0.0, 3_012.75)
        );
        assert!(within(s.reagent_pct, 0.0, 100.0) && within(s.fuel_level_pct, 0.0, 100.0));
        assert!(within(s.intake_air_kgph, 0.0, 3_212.75) && within(s.dpf_dp_kpa, 0.0, 6_425.5));
        assert!(within(s.scr_inlet_c, -40.0, 600.0) && within(s.scr_outlet_c, -40.0, 600.0));
        assert!(within(s.coolant_c, -40.0, 110.0) && within(s.odometer_km, 1.0, 1e6));
        let p = s.position.as_ref().expect("positioned");
        assert!(p.valid && (116.15..=116.65).contains(&p.lon) && (39.75..=40.10).contains(&p.lat));
        assert!(s.absent.is_empty());
    }
    let [obd] = &report.obd[..] else {
        panic!("one OBD entry per report")
    };
    assert_eq!(secs(&obd.sampled_at), collected);
    assert_eq!(obd.protocol, proto::ObdProtocol::Iso15765 as i32);
    assert_eq!(
        (obd.calibration_id.len(), obd.cvn.len(), obd.iupr.len()),
        (18, 18, 36)
    );
}

#[test]
fn faults_are_dealt_in_proportion_and_truth_lines_are_json() {
    let sim = Simulation::new(SimConfig {
        rules: shortened(),
        ..config(200, 6, 4)
    });
    assert!(sim.notes().is_empty(), "{:?}", sim.notes());
    let truth = sim.truth();
    assert_eq!(truth.len(), 200);
    let faulty = truth.iter().filter(|t| !t.faults.is_empty()).count();
    assert_eq!(faulty, 60);
    let kinds: BTreeSet<RuleId> = truth
        .iter()
        .filter_map(|t| t.faults.last().copied())
        .collect();
    assert_eq!(kinds, INJECTABLE.iter().copied().collect());
    for t in truth {
        assert!(
            t.faults.len() <= 1 || t.faults == [RuleId::RoadsideFail, RuleId::BlacklistedEntry]
        );
        assert!(t.undecidable.is_empty());
    }
    let clean = truth.iter().find(|t| t.faults.is_empty()).unwrap();
    assert_eq!(
        clean.to_json_line(),
        format!(r#"{{"vin":"{}","faults":[]}}"#, clean.vin)
    );
    let listed = truth.iter().find(|t| t.faults.len() == 2).unwrap();
    assert_eq!(
        listed.to_json_line(),
        format!(
            r#"{{"vin":"{}","faults":["roadside_fail","blacklisted_entry"]}}"#,
            listed.vin
        )
    );
}

/// Under the default rules a 6-hour run cannot decide a MIL fault (72 h) or a data gap (7-day
/// fill period): the default mix leaves them out and says so, and the faulty share of the fleet
/// is made of the other kinds.
#[test]
fn the_default_mix_holds_only_what_the_run_can_decide() {
    let sim = Simulation::new(config(200, 6, 4));
    let truth = sim.truth();
    assert_eq!(truth.iter().filter(|t| !t.faults.is_empty()).count(), 60);
    assert!(truth.iter().all(|t| t.undecidable.is_empty()));
    let kinds: BTreeSet<RuleId> = truth.iter().flat_map(|t| t.faults.clone()).collect();
    let expected: BTreeSet<RuleId> = INJECTABLE
        .iter()
        .copied()
        .filter(|&f| !matches!(f, RuleId::MilEmissionFault | RuleId::DataGap))
        .collect();
    assert_eq!(kinds, expected);
    assert_eq!(
        sim.notes(),
        [
            "left out of the fault mix, as this run cannot decide them under its rules: \
          mil_emission_fault (needs 72h of MIL on (mil_emission_fault.min_duration), the run is \
          6h); data_gap (decided 7d after the gap ends (data_gap.fill_within), the run is 6h)"
        ]
    );
}

/// Faults asked for by name are injected whether or not the run can decide them; those it
/// cannot are listed apart, with why, and a note counts them.
#[test]
fn requested_faults_the_run_cannot_decide_are_marked_undecidable() {
    let sim = Simulation::new(SimConfig {
        fault_mix: parse_fault_mix("data_gap=1,mil_emission_fault=1,nox_over_limit=1").unwrap(),
        ..config(60, 6, 4)
    });
    let truth = sim.truth();
    let gaps: Vec<&Truth> = truth
        .iter()
        .filter(|t| t.undecidable.iter().any(|u| u.rule == RuleId::DataGap))
        .collect();
    let mils = truth
        .iter()
        .filter(|t| {
            t.undecidable
                .iter()
                .any(|u| u.rule == RuleId::MilEmissionFault)
        })
        .count();
    let nox = truth
        .iter()
        .filter(|t| t.faults == [RuleId::NoxOverLimit])
        .count();
    assert_eq!((gaps.len(), mils, nox), (6, 6, 6));
    assert!(truth
        .iter()
        .all(|t| t.faults.is_empty() || t.undecidable.is_empty()));
    assert_eq!(
        gaps[0].to_json_line(),
        format!(
            r#"{{"vin":"{}","faults":[],"undecidable":[{{"rule":"data_gap","why":"decided 7d after the gap ends (data_gap.fill_within), the run is 6h"}}]}}"#,
            gaps[0].vin
        )
    );
    assert_eq!(
        sim.notes(),
        [
            "faults this run cannot decide under its rules are injected but listed as \
          \"undecidable\" in the truth: mil_emission_fault on 6 vehicles (needs 72h of MIL on \
          (mil_emission_fault.min_duration), the run is 6h); data_gap on 6 vehicles (decided 7d \
          after the gap ends (data_gap.fill_within), the run is 6h)"
        ]
    );

    // A value threshold the simulated trucks are not built around is named.
    let sim = Simulation::new(SimConfig {
        rules: rules("[nox_over_limit]\ndownstream_limit_ppm = 400.0"),
        ..config(10, 1, 4)
    });
    assert!(sim
        .notes()
        .last()
        .unwrap()
        .ends_with("may not hold for these rule values: nox_over_limit.downstream_limit_ppm"));
}

#[test]
fn fault_mixes_parse_strictly() {
    assert_eq!(
        parse_fault_mix(" nox_over_limit=2, data_gap=1 ,").unwrap(),
        vec![(RuleId::NoxOverLimit, 2), (RuleId::DataGap, 1)]
    );
    for bad in [
        "",
        "nox_over_limit",
        "nox=1",
        "repeat_offender=1",
        "data_gap=x",
        "data_gap=1,data_gap=2",
        "data_gap=0",
    ] {
        assert!(parse_fault_mix(bad).is_err(), "{bad:?} accepted");
    }
}

/// Realtime plus reissued samples of a clean vehicle cover every second it was logged in.
#[test]
fn clean_outages_are_fully_reissued() {
    let cfg = SimConfig {
        fault_fraction: 0.0,
        ..config(100, 4, 6)
    };
    let end = cfg.start.unix_secs() + 4 * 3_600;
    #[derive(Default)]
    struct Coverage {
        /// (login, logout or end of run)
        sessions: Vec<(i64, i64)>,
        live: BTreeSet<i64>,
        reissued: BTreeSet<i64>,
    }
    let mut per_vin: BTreeMap<String, Coverage> = BTreeMap::new();
    for record in Simulation::new(cfg) {
        let Some(report) = telemetry(&record) else {
            continue;
        };
        let Coverage {
            sessions,
            live,
            reissued,
        } = per_vin.entry(report.vin.clone()).or_default();
        let times = report.samples.iter().map(|s| secs(&s.sampled_at));
        match proto::Command::try_from(report.command).unwrap() {
            proto::Command::Login => sessions.push((secs(&report.collected_at), end)),
            proto::Command::Logout => sessions.last_mut().unwrap().1 = secs(&report.collected_at),
            proto::Command::Realtime => live.extend(times),
            proto::Command::Reissue => {
                // Reissued data is sent only after the live stream has resumed.
                assert!(record.timestamp / 1_000 > secs(&report.collected_at) + 10);
                reissued.extend(times);
            }
            other => panic!("clean vehicle sent {other:?}"),
        }
    }
    let mut long_outages = 0;
    for (
        vin,
        Coverage {
            sessions,
            live,
            reissued,
        },
    ) in &per_vin
    {
        if !reissued.is_empty() {
            assert!(
                live.is_disjoint(reissued),
                "{vin}: reissued what was sent live"
            );
            let span = reissued.last().unwrap() - reissued.first().unwrap() + 1;
            assert_eq!(span, reissued.len() as i64, "{vin}: one contiguous outage");
            long_outages += usize::from(span >= 30 * 60);
        }
        for &(from, to) in sessions {
            // Sessions cut by the end of the run miss at most the last partial report.
            let covered = (from..to)
                .filter(|t| live.contains(t) || reissued.contains(t))
                .count() as i64;
            assert!(
                covered >= to - from - 10,
                "{vin}: {covered} of {} s in {from}..{to}",
                to - from
            );
        }
    }
    assert!(long_outages >= 1, "no outage of 30 min or more to check");
}

/// The ground truth is exactly what the records show, each fault is detectable well before the
/// run ends, and clean vehicles keep a margin to every threshold.
#[test]
fn a_six_hour_run_shows_exactly_its_ground_truth() {
    check_ground_truth(
        SimConfig {
            fault_fraction: 0.5,
            rules: shortened(),
            ..config(60, 6, 5)
        },
        30 * 60,
    );
}

/// A run too short for some faults under the default rules: every fault of the truth is
/// scheduled to be decided in time, and those asked for that it cannot decide stay undecided.
#[test]
fn a_short_run_shows_exactly_its_ground_truth() {
    check_ground_truth(
        SimConfig {
            duration_secs: 80 * 60,
            fault_fraction: 0.6,
            fault_mix: INJECTABLE.iter().map(|&f| (f, 1)).collect(),
            ..config(60, 0, 6)
        },
        5 * 60,
    );
}

/// At the edge of what a run can decide: a MIL streak or data gap a little too long for the
/// run is placed so that it is never decided; a little shorter, it always is.
#[test]
fn borderline_waits_are_decided_always_or_never() {
    for (waits, decidable) in [(("115m", "50m"), false), (("90m", "20m"), true)] {
        let cfg = SimConfig {
            fault_fraction: 1.0,
            fault_mix: parse_fault_mix("mil_emission_fault=1,data_gap=1").unwrap(),
            rules: rules(&format!(
                "[mil_emission_fault]\nmin_duration = \"{}\"\n[data_gap]\nfill_within = \"{}\"",
                waits.0, waits.1
            )),
            ..config(30, 2, 8)
        };
        let truth = Simulation::new(cfg.clone()).truth().to_vec();
        assert!(
            truth.iter().all(|t| t.faults.is_empty() != decidable),
            "{waits:?}: {truth:?}"
        );
        check_ground_truth(cfg, 5 * 60);
    }
}

/// The same over many seeds, with the default fault share in 6 hours and with every kind in
/// runs of 50 to 90 minutes: too slow for every run, so opt in with
/// `cargo test --release --lib sim -- --ignored`.
#[test]
#[ignore]
fn ground_truth_holds_across_seeds() {
    for seed in 100..120 {
        check_ground_truth(
            SimConfig {
                rules: shortened(),
                ..config(200, 6, seed)
            },
            30 * 60,
        );
        check_ground_truth(config(200, 6, seed), 30 * 60);
        check_ground_truth(
            SimConfig {
                duration_secs: (50 + seed % 40) * 60,
                fault_fraction: 0.8,
                fault_mix: INJECTABLE.iter().map(|&f| (f, 1)).collect(),
                ..config(200, 0, seed)
            },
            5 * 60,
        );
    }
}

/// What the records show (by the oracle) is exactly each vehicle's `faults`, each fired at
/// least `lead` seconds before the run ends, and none of its `undecidable` ones.
fn check_ground_truth(cfg: SimConfig, lead: i64) {
    let end = cfg.start.unix_secs() + cfg.duration_secs as i64;
    let waits = Waits::of(&cfg.rules);
    let sim = Simulation::new(cfg);
    let truth = sim.truth().to_vec();
    let mut strays: Vec<Unresolved> = sim
        .stray_reads()
        .iter()
        .map(|s| Unresolved {
            plate: s.plate.clone(),
            reason: s.reason,
        })
        .collect();
    strays.sort();
    let observed = observe(sim);
    // Every plate-only record resolves to a vehicle, but for the stray reads.
    assert_eq!(observed.unresolved, strays);
    assert!(observed.resolved > 0);
    let seen = observed.by_vin;
    let mut kinds = BTreeSet::new();
    for t in &truth {
        let s = &seen[t.vin.as_str()];
        let fired = fired(t.vin.as_str(), s, waits);
        let rules: Vec<RuleId> = fired.iter().map(|f| f.0).collect();
        assert_eq!(rules, t.faults, "{}: fired {fired:?} ({t:?})", t.vin);
        for &(rule, at) in &fired {
            assert!(
                at <= end - lead,
                "{}: {rule:?} only at {at}, run ends {end}",
                t.vin
            );
            kinds.insert(rule);
        }
        if t.faults.is_empty() && t.undecidable.is_empty() {
            for l in &s.live {
                assert!(l.nox_down < 480.0 && l.reagent > 0.0, "{}: {l:?}", t.vin);
                let converting = l.scr_inlet < 200.0 || 1.0 - l.nox_down / l.nox_up >= 0.6;
                assert!(converting, "{}: {l:?}", t.vin);
            }
            assert!(s
                .obd
                .iter()
                .all(|o| !o.emission_fault && o.vin == t.vin.as_str()));
        }
    }
    let expected: BTreeSet<RuleId> = truth.iter().flat_map(|t| t.faults.clone()).collect();
    assert_eq!(kinds, expected);
}

/// What a plate-only or VIN-keyed piece of evidence names: (VIN or "", plate, time in s).
fn named(record: &Record) -> Option<(String, String, i64)> {
    let value = record.value.as_deref()?;
    match record.topic.as_str() {
        "tw.permits" => {
            let p = proto::EntryPermit::decode(value).unwrap();
            Some((p.vin, p.plate, record.timestamp / 1_000))
        }
        "tw.inspections" => {
            let i = proto::Inspection::decode(value).unwrap();
            let (plate, at) = match i.kind.unwrap() {
                proto::inspection::Kind::ManualCheck(c) => (c.plate, secs(&c.tested_at)),
                proto::inspection::Kind::RemoteSensing(p) => (p.plate, secs(&p.measured_at)),
            };
            Some((i.vin, plate, at))
        }
        _ => None,
    }
}

/// Plates change hands mid-run and evidence follows: after its transfer a vehicle is named by
/// its new plate, its old plate names nobody until the next holder's registration, then that
/// holder. Late registrations reach the topic after evidence naming their plate, registered
/// from before it. Most passes and permits name the plate only, checks mostly the VIN.
#[test]
fn plates_change_hands_and_registrations_come_late() {
    let sim = Simulation::new(config(200, 5, 21));
    let deal = sim.deal.clone();
    assert_eq!((deal.transfers.len(), deal.late.len()), (2, 2), "{deal:?}");
    let vins: Vec<Vin> = sim.vehicles.iter().map(|v| v.id.vin).collect();
    let papers: Vec<_> = sim.vehicles.iter().map(|v| v.papers.clone()).collect();
    let records: Vec<Record> = sim.collect();

    for &(x, y) in &deal.transfers {
        let [old, new] = &papers[x].registrations[..] else {
            panic!("{:?}", papers[x].registrations)
        };
        let [_, taken] = &papers[y].registrations[..] else {
            panic!("{:?}", papers[y].registrations)
        };
        assert_eq!(taken.plate, old.plate);
        let (p, q, t, t2) = (
            old.plate.to_string(),
            new.plate.to_string(),
            new.from,
            taken.from,
        );
        assert!(t < t2);
        let (mut x_by_q, mut y_by_p) = (0, 0);
        for (vin, plate, at) in records.iter().filter_map(named) {
            if plate == p {
                assert!(
                    at < t || at >= t2,
                    "{p} named at {at}, between {t} and {t2}"
                );
            }
            if plate == q {
                assert!(at >= t, "{q} named at {at}, before {t}");
            }
            if vin == vins[x].as_str() && at >= t {
                assert_eq!(plate, q);
            }
            if vin == vins[y].as_str() && at >= t2 {
                assert_eq!(plate, p);
            }
            x_by_q += usize::from(vin.is_empty() && plate == q);
            y_by_p += usize::from(vin.is_empty() && plate == p && at >= t2);
        }
        assert!(
            x_by_q > 0 && y_by_p > 0,
            "{p} → {q}: evidence by plate after both"
        );
        // The registry says so when it happens.
        for (vin, from) in [(vins[x], t), (vins[y], t2)] {
            let published = records
                .iter()
                .filter(|r| r.topic == "tw.registry" && r.key.as_deref() == Some(vin.as_bytes()))
                .map(|r| r.timestamp)
                .max();
            assert_eq!(published, Some(from * 1_000));
        }
    }

    for &v in &deal.late {
        let registration = &papers[v].registrations[0];
        let plate = registration.plate.to_string();
        let published = records
            .iter()
            .find(|r| r.topic == "tw.registry" && r.key.as_deref() == Some(vins[v].as_bytes()))
            .map(|r| r.timestamp)
            .unwrap();
        let first = records
            .iter()
            .find(|r| r.key.as_deref() == Some(plate.as_bytes()))
            .expect("evidence by plate");
        let late_by = published - first.timestamp;
        assert!((60_000..=6 * 3_600_000).contains(&late_by), "{late_by} ms");
        let (_, _, at) = named(first).unwrap();
        assert!(registration.from < at);
    }

    let share = |topic: &str, kind: &dyn Fn(&Record) -> bool| {
        let all: Vec<_> = records
            .iter()
            .filter(|r| r.topic == topic && kind(r))
            .filter_map(named)
            .collect();
        let by_plate = all.iter().filter(|(vin, _, _)| vin.is_empty()).count();
        by_plate as f64 / all.len() as f64
    };
    fn is_pass(r: &Record) -> bool {
        let i = proto::Inspection::decode(r.value.as_deref().unwrap()).unwrap();
        matches!(i.kind, Some(proto::inspection::Kind::RemoteSensing(_)))
    }
    let passes = share("tw.inspections", &is_pass);
    let checks = share("tw.inspections", &|r| !is_pass(r));
    let permits = share("tw.permits", &|_| true);
    assert!((0.6..0.85).contains(&passes), "{passes}");
    assert!(checks < 0.3, "{checks}");
    assert!((0.6..0.9).contains(&permits), "{permits}");
}
