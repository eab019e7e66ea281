//! Test-only: an independent, deliberately plain re-implementation of the rule thresholds of
//! domain.md §4 (config/rules.toml defaults, but for the two waits a run's rules may shorten:
//! the MIL streak and the data-gap fill period, read from `Waits`), used to check that the
//! simulator's ground truth is exactly what its records show. It shares no code with the
//! engine, so a mistake in one is unlikely to be mirrored in the other.
//!
//! Plate-only evidence (empty VIN, keyed by the plate read) is set aside until the stream ends,
//! then resolved through the run's own registrations: to the vehicle whose tenure of the plate
//! and colour covers the evidence's time, a tenure lasting from its `registered_from` to the
//! same vehicle's next registration. What resolves to no vehicle is returned apart, with the
//! dead-letter reason tailwatch should give it.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;

use crate::engine::Rules;
use crate::model::{Plate, RuleId};
use crate::proto;
use crate::recording::Record;

/// The MIL streak and the data-gap fill period, seconds.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    pub mil_streak: i64,
    pub fill: i64,
}

impl Waits {
    pub fn of(rules: &Rules) -> Waits {
        Waits {
            mil_streak: rules.mil_emission_fault.min_duration.0.into(),
            fill: rules.data_gap.fill_within.0.into(),
        }
    }
}

pub fn secs(ts: &Option<pbjson_types::Timestamp>) -> i64 {
    ts.as_ref().expect("timestamps are set").seconds
}

/// The fields of one realtime sample the rules read.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    pub t: i64,
    pub speed: f64,
    pub rpm: f64,
    pub coolant: f64,
    pub scr_inlet: f64,
    pub nox_up: f64,
    pub nox_down: f64,
    pub reagent: f64,
    pub odometer: f64,
}

impl Live {
    fn nox_valid(&self) -> bool {
        self.rpm >= 600.0 && self.coolant >= 70.0 && self.scr_inlet >= 200.0
    }
}

#[derive(Debug, Clone)]
pub struct ObdSeen {
    pub t: i64,
    /// MIL on together with an emission-relevant DTC.
    pub emission_fault: bool,
    pub vin: String,
    pub calibration_id: String,
    pub cvn: String,
}

/// Plate-only evidence, set aside until every registration is known.
#[derive(Debug, Clone)]
enum ByPlate {
    Permit,
    Check(proto::ManualCheck),
    Pass(proto::RemoteSensing),
}

/// A plate-only record that names no vehicle.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unresolved {
    pub plate: String,
    /// `invalid_plate` (breaks the plate grammar, or no colour) or `unknown_plate`.
    pub reason: &'static str,
}

/// What a run's records show: per VIN, and the plate-only records naming no vehicle.
#[derive(Debug, Default)]
pub struct Observed {
    pub by_vin: BTreeMap<String, Seen>,
    pub unresolved: Vec<Unresolved>,
    /// Plate-only records resolved to a vehicle.
    pub resolved: usize,
}

/// What one vehicle's records show, reduced to what the rules read.
#[derive(Debug, Default)]
pub struct Seen {
    pub out_of_town: bool,
    pub permit: bool,
    /// Realtime samples, deduplicated as the engine does: only later than the previous one.
    pub live: Vec<Live>,
    pub reissued: BTreeSet<i64>,
    pub logouts: Vec<i64>,
    pub obd: Vec<ObdSeen>,
    pub removal_at: Option<i64>,
    pub roadside_fail_at: Option<i64>,
    /// Remote-sensing exceedance times per pollutant.
    pub exceedances: BTreeMap<&'static str, Vec<i64>>,
}

pub fn observe(records: impl Iterator<Item = Record>) -> Observed {
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    // (plate, colour) → (registered_from, VIN); VIN → every registered_from.
    let mut holders: BTreeMap<(String, i32), Vec<(i64, String)>> = BTreeMap::new();
    let mut starts: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    // (plate, colour, evidence time, evidence).
    let mut by_plate: Vec<(String, i32, i64, ByPlate)> = Vec::new();
    for record in records {
        let key = String::from_utf8(record.key.clone().expect("keyed")).expect("UTF-8 key");
        let value = record.value.as_deref().expect("no tombstones");
        match record.topic.as_str() {
            "tw.registry" => {
                let reg = proto::VehicleRegistration::decode(value).unwrap();
                assert_eq!(reg.vin, key);
                let from = reg.registered_from.map_or(i64::MIN, |t| t.seconds);
                holders
                    .entry((reg.plate.clone(), reg.plate_colour))
                    .or_default()
                    .push((from, key.clone()));
                starts.entry(key.clone()).or_default().push(from);
                let s = seen.entry(key).or_default();
                s.out_of_town = !Plate::parse(&reg.plate).unwrap().is_beijing();
            }
            "tw.permits" => {
                let permit = proto::EntryPermit::decode(value).unwrap();
                if permit.vin.is_empty() {
                    assert_eq!(permit.plate, key);
                    let at = record.timestamp.div_euclid(1_000);
                    by_plate.push((permit.plate, permit.plate_colour, at, ByPlate::Permit));
                } else {
                    seen.entry(key).or_default().permit = true;
                }
            }
            "tw.telemetry" => observe_report(
                seen.entry(key).or_default(),
                &proto::TerminalReport::decode(value).unwrap(),
            ),
            "tw.inspections" => {
                let inspection = proto::Inspection::decode(value).unwrap();
                let kind = inspection.kind.unwrap();
                if inspection.vin.is_empty() {
                    let (plate, colour, at) = match &kind {
                        proto::inspection::Kind::ManualCheck(c) => {
                            (&c.plate, c.plate_colour, secs(&c.tested_at))
                        }
                        proto::inspection::Kind::RemoteSensing(p) => {
                            (&p.plate, p.plate_colour, secs(&p.measured_at))
                        }
                    };
                    assert_eq!(plate, &key);
                    let evidence = match kind {
                        proto::inspection::Kind::ManualCheck(c) => ByPlate::Check(c),
                        proto::inspection::Kind::RemoteSensing(p) => ByPlate::Pass(p),
                    };
                    by_plate.push((key, colour, at, evidence));
                } else {
                    observe_inspection(seen.entry(key).or_default(), kind);
                }
            }
            _ => {}
        }
    }
    for froms in starts.values_mut() {
        froms.sort_unstable();
    }
    let mut observed = Observed::default();
    for (plate, colour, at, evidence) in by_plate {
        let reason = if Plate::parse(&plate).is_err() || colour == 0 {
            Some("invalid_plate")
        } else {
            None
        };
        // Tenures of the plate covering `at`: begun by then, and not ended by the same
        // vehicle's next registration.
        let covering: Vec<&String> = holders
            .get(&(plate.clone(), colour))
            .into_iter()
            .flatten()
            .filter(|(from, vin)| {
                let next = starts[vin].iter().find(|&&f| f > *from);
                *from <= at && next.is_none_or(|&next| at < next)
            })
            .map(|(_, vin)| vin)
            .collect();
        let vin = match (reason, &covering[..]) {
            (Some(reason), _) => {
                observed.unresolved.push(Unresolved { plate, reason });
                continue;
            }
            (None, []) => {
                observed.unresolved.push(Unresolved {
                    plate,
                    reason: "unknown_plate",
                });
                continue;
            }
            (None, [vin]) => (*vin).clone(),
            (None, _) => panic!("{plate} held by {covering:?} at {at}"),
        };
        observed.resolved += 1;
        let s = seen.entry(vin).or_default();
        match evidence {
            ByPlate::Permit => s.permit = true,
            ByPlate::Check(c) => {
                observe_inspection(s, proto::inspection::Kind::ManualCheck(c));
            }
            ByPlate::Pass(p) => {
                observe_inspection(s, proto::inspection::Kind::RemoteSensing(p));
            }
        }
    }
    for s in seen.values_mut() {
        for times in s.exceedances.values_mut() {
            times.sort_unstable();
        }
    }
    observed.by_vin = seen;
    observed.unresolved.sort();
    observed
}

fn observe_inspection(s: &mut Seen, kind: proto::inspection::Kind) {
    match kind {
        proto::inspection::Kind::ManualCheck(c) => {
            let fail = c.free_acceleration_opacity.unwrap() > 0.7 || c.ringelmann.unwrap() > 1;
            let obd_fail = c.obd_mil_on == Some(true) || c.obd_communication_ok == Some(false);
            if fail || obd_fail {
                let at = secs(&c.tested_at);
                s.roadside_fail_at = Some(s.roadside_fail_at.map_or(at, |t| t.min(at)));
            }
        }
        proto::inspection::Kind::RemoteSensing(p) => {
            assert!(p.audit_valid && p.fuel_type == "diesel");
            let at = secs(&p.measured_at);
            if p.opacity_pct.unwrap() > 30.0 {
                s.exceedances.entry("opacity").or_default().push(at);
            }
            if p.no_ppm.unwrap() > 1_500.0 {
                s.exceedances.entry("no").or_default().push(at);
            }
        }
    }
}

fn observe_report(s: &mut Seen, r: &proto::TerminalReport) {
    match proto::Command::try_from(r.command).unwrap() {
        proto::Command::Realtime => {
            for x in &r.samples {
                let t = secs(&x.sampled_at);
                if s.live.last().is_none_or(|l| t > l.t) {
                    s.live.push(Live {
                        t,
                        speed: x.speed_kmh.unwrap(),
                        rpm: x.engine_rpm.unwrap(),
                        coolant: x.coolant_c.unwrap(),
                        scr_inlet: x.scr_inlet_c.unwrap(),
                        nox_up: x.nox_upstream_ppm.unwrap(),
                        nox_down: x.nox_downstream_ppm.unwrap(),
                        reagent: x.reagent_pct.unwrap(),
                        odometer: x.odometer_km.unwrap(),
                    });
                }
            }
        }
        proto::Command::Reissue => {
            s.reissued
                .extend(r.samples.iter().map(|x| secs(&x.sampled_at)));
        }
        proto::Command::Logout => s.logouts.push(secs(&r.collected_at)),
        proto::Command::RemovalAlarm => {
            s.removal_at = s.removal_at.or(Some(secs(&r.collected_at)));
        }
        _ => {}
    }
    for o in &r.obd {
        let emission_dtc = o
            .dtcs
            .iter()
            .any(|d| ["P20", "P24", "P04"].iter().any(|p| d.code.starts_with(p)));
        s.obd.push(ObdSeen {
            t: secs(&o.sampled_at),
            emission_fault: o.mil == proto::Mil::On as i32 && emission_dtc,
            vin: o.vin.clone(),
            calibration_id: o.calibration_id.clone(),
            cvn: o.cvn.clone(),
        });
    }
}

/// Every rule that fires for the vehicle, with the time it would, in time order.
pub fn fired(vin: &str, s: &Seen, waits: Waits) -> Vec<(RuleId, i64)> {
    let mut out = Vec::new();
    out.extend(nox_windows(s));
    out.extend(reagent_empty(s).map(|t| (RuleId::ReagentEmpty, t)));
    out.extend(mil_streak(s, waits.mil_streak).map(|t| (RuleId::MilEmissionFault, t)));
    out.extend(tamper(vin, s).map(|t| (RuleId::TerminalTamper, t)));
    out.extend(unfilled_gap(s, waits.fill).map(|t| (RuleId::DataGap, t)));
    out.extend(s.roadside_fail_at.map(|t| (RuleId::RoadsideFail, t)));
    let repeat = s
        .exceedances
        .values()
        .filter_map(|times| times.get(1).copied())
        .min();
    out.extend(repeat.map(|t| (RuleId::RemoteSensingRepeat, t)));

    // Out-of-town, listed, no permit, and seen in Beijing after the listing.
    let listed_at = out
        .iter()
        .filter(|(r, _)| !matches!(r, RuleId::TerminalTamper | RuleId::DataGap))
        .map(|o| o.1)
        .min();
    if let Some(listed) = listed_at.filter(|_| s.out_of_town && !s.permit) {
        let seen_after = s.live.iter().map(|l| l.t).find(|&t| t > listed);
        out.extend(seen_after.map(|t| (RuleId::BlacklistedEntry, t)));
    }
    out.sort_by_key(|&(r, t)| (t, r));
    out
}

/// `nox_over_limit` and `scr_ineffective`: 5-minute windows aligned to the epoch, the third
/// counting window fires (the run is far shorter than the 24 h episode span).
fn nox_windows(s: &Seen) -> Vec<(RuleId, i64)> {
    #[derive(Default)]
    struct Window {
        valid: u32,
        over: u32,
        converting: u32,
        conversion_sum: f64,
    }
    let mut windows: BTreeMap<i64, Window> = BTreeMap::new();
    for l in s.live.iter().filter(|l| l.nox_valid()) {
        let w = windows.entry(l.t.div_euclid(300)).or_default();
        w.valid += 1;
        w.over += u32::from(l.nox_down > 500.0);
        if l.nox_up >= 200.0 {
            w.converting += 1;
            w.conversion_sum += 1.0 - l.nox_down / l.nox_up;
        }
    }
    let third = |counts: &dyn Fn(&Window) -> bool| {
        let counting: Vec<i64> = windows
            .iter()
            .filter(|(_, w)| counts(w))
            .map(|(&k, _)| k)
            .collect();
        counting.get(2).map(|w| w * 300 + 300)
    };
    let over = third(&|w| w.valid >= 60 && 2 * w.over >= w.valid);
    let ineffective =
        third(&|w| w.converting >= 60 && w.conversion_sum / f64::from(w.converting) < 0.3);
    let mut out = Vec::new();
    out.extend(over.map(|t| (RuleId::NoxOverLimit, t)));
    out.extend(ineffective.map(|t| (RuleId::ScrIneffective, t)));
    out
}

/// 600 moving samples at 0 % within an hour.
fn reagent_empty(s: &Seen) -> Option<i64> {
    let empty: Vec<i64> = s
        .live
        .iter()
        .filter(|l| l.reagent == 0.0 && l.speed > 0.0)
        .map(|l| l.t)
        .collect();
    empty
        .windows(600)
        .find(|w| w[599] - w[0] < 3_600)
        .map(|w| w[599])
}

/// Every OBD entry showing MIL + emission DTC for `streak` seconds.
fn mil_streak(s: &Seen, streak: i64) -> Option<i64> {
    let mut from = None;
    for o in &s.obd {
        from = if o.emission_fault {
            from.or(Some(o.t))
        } else {
            None
        };
        if from.is_some_and(|f| o.t - f >= streak) {
            return Some(o.t);
        }
    }
    None
}

/// Removal alarm, OBD VIN not the frame VIN, or calibration ID / CVN changing.
fn tamper(vin: &str, s: &Seen) -> Option<i64> {
    let obd = s.obd.iter().enumerate().find(|(i, o)| {
        let changed = *i > 0 && {
            let before = &s.obd[i - 1];
            before.calibration_id != o.calibration_id || before.cvn != o.cvn
        };
        o.vin != vin || changed
    });
    [s.removal_at, obd.map(|(_, o)| o.t)]
        .into_iter()
        .flatten()
        .min()
}

/// A gap ≥ 30 min between consecutive realtime samples with no logout in it, ≥ 5 km driven,
/// not covered by reissued samples; decided at the first evidence `fill` seconds after its
/// end, if there is any.
fn unfilled_gap(s: &Seen, fill: i64) -> Option<i64> {
    for pair in s.live.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let logged_out = s.logouts.iter().any(|t| (a.t..=b.t).contains(t));
        if b.t - a.t >= 1_800 && b.odometer - a.odometer >= 5.0 && !logged_out {
            let filled = (a.t + 1..b.t).all(|t| s.reissued.contains(&t));
            if !filled {
                return s.live.iter().map(|l| l.t).find(|&t| t >= b.t + fill);
            }
        }
    }
    None
}
