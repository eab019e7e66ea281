//! What must hold for any byte string fed to the frame decoder, written once and shared by
//! the fuzz target (`frame.rs`) and the stable corpus replay (`tests/frame_corpus.rs`), both of
//! which include this file by `#[path]`; it is not a fuzz target itself.
//!
//! `check` decodes one input under every `DialectChoice` and returns the results, or the first
//! broken invariant as a sentence that names the choice and the input. It must not panic on
//! its own account: a panic out of `check` is always the codec's. Only the codec's public API
//! is used, so the checks hold the codec to what it promises callers.

use tailwatch::decode::frame::{
    decode, encode, Content, DataUnit, Dialect, DialectChoice, FieldSpec, Frame, FrameError,
    HybridBody, HybridField, Info, ObdBody, SerialAt, Signing, StreamBody, StreamField,
    DTC_COUNT_MAX, HEADER_LEN,
};
use tailwatch::model::{Absent, Position, Reading};

/// Every choice a source can be configured with; `check` returns results in this order: auto,
/// then every dialect in `Dialect::ALL` order (the order auto detection prefers).
pub const CHOICES: [DialectChoice; 8] = DialectChoice::ALL;

/// One decode result per entry of [`CHOICES`].
pub type Results = [Result<Frame, FrameError>; 8];

/// Decodes `bytes` under every choice and checks every invariant.
pub fn check(bytes: &[u8]) -> Result<Results, String> {
    let results = CHOICES.map(|choice| decode(bytes, choice));
    let fail = |what: String| format!("{what}\ninput ({} bytes): {}", bytes.len(), hex(bytes));
    for (choice, result) in CHOICES.iter().zip(&results) {
        if let Ok(frame) = result {
            accepted(bytes, *choice, frame).map_err(|e| fail(format!("{choice}: {e}")))?;
        }
    }
    across_choices(&results).map_err(fail)?;
    Ok(results)
}

/// The input with its length field and BCC rewritten to fit, or `None` when it is too short
/// to carry a header or too long for the 2-byte length. Random mutations almost never keep
/// the XOR checksum and the length consistent, so fuzzing only the raw input would spend
/// nearly every run on the framing check; checking the resealed input as well lets mutations
/// reach the data-unit parsers.
pub fn reseal(bytes: &[u8]) -> Option<Vec<u8>> {
    let unit_len = bytes.len().checked_sub(HEADER_LEN + 1)?;
    let unit_len = u16::try_from(unit_len).ok()?;
    let mut sealed = bytes.to_vec();
    sealed[HEADER_LEN - 2..HEADER_LEN].copy_from_slice(&unit_len.to_be_bytes());
    let (bcc, rest) = sealed.split_last_mut()?;
    *bcc = rest.iter().fold(0, |acc, b| acc ^ b);
    Some(sealed)
}

/// Invariants of one accepted frame on its own.
fn accepted(bytes: &[u8], choice: DialectChoice, frame: &Frame) -> Result<(), String> {
    // `decode` is strict (exact length, BCC, plaintext only, every byte of the data unit
    // consumed, fixed-width fields kept raw), so an accepted frame is canonical: the encoder
    // must give back exactly the input, not merely an equivalent frame.
    match encode(frame) {
        Ok(again) if again == bytes => {}
        Ok(again) => {
            return Err(format!(
                "re-encoding gives different bytes: {}\nframe: {frame:?}",
                hex(&again)
            ))
        }
        Err(e) => return Err(format!("the encoder refuses the decoded frame: {e}")),
    }
    let command = frame.command();
    let expected = if command.hj_only() {
        Dialect::Hj1239
    } else {
        match choice {
            DialectChoice::Fixed(d) => d,
            // Auto detection decides only for data units; the rest report their standard.
            DialectChoice::Auto if frame.data_unit().is_some() => frame.dialect,
            DialectChoice::Auto => Dialect::Gb17691,
        }
    };
    if frame.dialect != expected {
        return Err(format!(
            "{command} frame reports dialect {}, expected {expected}",
            frame.dialect
        ));
    }
    match &frame.content {
        Content::Realtime(unit) | Content::Reissue(unit) => data_unit(unit, frame.dialect),
        Content::RemovalAlarm(alarm) => position(
            "removal alarm position",
            alarm.position_status,
            alarm.position(),
        ),
        _ => Ok(()),
    }
}

/// Invariants that relate the four results for one input.
fn across_choices(results: &Results) -> Result<(), String> {
    let [auto, fixed @ ..] = results;
    // Framing (start, length, BCC, command, encryption) is checked before any dialect is
    // considered, so a framing rejection is the same whatever the choice.
    if let Some(e) = results
        .iter()
        .find_map(|r| r.as_ref().err().filter(|e| framing(e)))
    {
        if results.iter().any(|r| r.as_ref().err() != Some(e)) {
            return Err(format!("framing error {e} depends on the dialect choice"));
        }
        return Ok(());
    }
    let data = results
        .iter()
        .flatten()
        .next()
        .map(|f| f.data_unit().is_some());
    let decoded = |i: usize| fixed[i].as_ref().ok();
    match auto {
        Ok(frame) => {
            let index = CHOICES
                .iter()
                .position(|c| *c == DialectChoice::Fixed(frame.dialect))
                .unwrap_or(0);
            let explicit = &results[index];
            if explicit.as_ref() != Ok(frame) {
                return Err(format!(
                    "auto detected {} but decoding as {} gives {explicit:?}\nauto: {frame:?}",
                    frame.dialect, frame.dialect
                ));
            }
            if data == Some(true) {
                // The explanations that count: fewest vendor-defined bodies.
                let best: Vec<&Frame> = (0..fixed.len())
                    .filter_map(decoded)
                    .filter(|f| vendor_bodies(f) == fewest_vendor_bodies(fixed))
                    .collect();
                if best.first().map(|f| f.dialect) != Some(frame.dialect) {
                    return Err(format!(
                        "auto detected {} but {:?} is the first dialect of {:?} that decodes \
                         with the fewest vendor-defined bodies",
                        frame.dialect,
                        best.first().map(|f| f.dialect),
                        Dialect::ALL
                    ));
                }
                if let Some(other) = best.iter().find(|f| bodies_read(f) != bodies_read(frame)) {
                    return Err(format!(
                        "auto chose {} although {} reads other bodies",
                        frame.dialect, other.dialect
                    ));
                }
            }
        }
        Err(FrameError::Ambiguous { first, second }) => {
            let at = |d: Dialect| Dialect::ALL.iter().position(|x| *x == d).unwrap_or(0);
            let fewest = fewest_vendor_bodies(fixed);
            match (decoded(at(*first)), decoded(at(*second))) {
                (Some(a), Some(b))
                    if bodies_read(a) != bodies_read(b)
                        && vendor_bodies(a) == fewest
                        && vendor_bodies(b) == fewest => {}
                _ => {
                    return Err(format!(
                        "auto calls {first} and {second} ambiguous, but they are not both \
                         best explanations reading different bodies"
                    ))
                }
            }
        }
        Err(e) => {
            if let Some(i) = (0..fixed.len()).find(|&i| decoded(i).is_some()) {
                return Err(format!(
                    "auto rejects ({e}) what {} decodes",
                    Dialect::ALL[i]
                ));
            }
        }
    }
    // Outside real-time and reissue the data unit does not depend on the dialect: all
    // choices accept or reject alike, and agree on everything but the reported dialect.
    if data == Some(false) {
        let contents: Vec<_> = results
            .iter()
            .map(|r| r.as_ref().map(|f| &f.content))
            .collect();
        if contents.iter().any(|c| c.is_err()) || contents.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!(
                "a dialect-independent command decodes differently per choice: {results:?}"
            ));
        }
    }
    Ok(())
}

fn framing(e: &FrameError) -> bool {
    matches!(
        e,
        FrameError::Truncated { .. }
            | FrameError::BadStart { .. }
            | FrameError::LengthMismatch { .. }
            | FrameError::BadBcc { .. }
            | FrameError::UnknownCommand { .. }
            | FrameError::Encrypted { .. }
    )
}

fn vendor_bodies(f: &Frame) -> usize {
    f.data_unit().map_or(0, |u| {
        u.bodies
            .iter()
            .filter(|b| matches!(b.info, Info::UserDefined { .. }))
            .count()
    })
}

fn fewest_vendor_bodies(fixed: &[Result<Frame, FrameError>]) -> usize {
    fixed.iter().flatten().map(vendor_bodies).min().unwrap_or(0)
}

/// The bodies and times a data unit reads as, whatever its signatures.
fn bodies_read(f: &Frame) -> Option<Vec<(Option<tailwatch::model::EventTime>, &Info)>> {
    f.data_unit()
        .map(|u| u.bodies.iter().map(|b| (b.collected_at, &b.info)).collect())
}

fn data_unit(unit: &DataUnit, dialect: Dialect) -> Result<(), String> {
    if unit.signature.is_some() != (dialect.signing() == Signing::End) {
        return Err(format!(
            "{dialect} data unit with signature {:?}",
            unit.signature
        ));
    }
    for (index, body) in unit.bodies.iter().enumerate() {
        if body.collected_at.is_some() && !dialect.timed_bodies() {
            return Err(format!(
                "body {index}: {dialect} body with time {:?}",
                body.collected_at
            ));
        }
        if body.serial.is_some() != (dialect.serial_at() == SerialAt::AfterEveryType) {
            return Err(format!(
                "body {index}: {dialect} body with serial {:?}",
                body.serial
            ));
        }
        if body.signature.is_some() != (dialect.signing() == Signing::EachBody) {
            return Err(format!(
                "body {index}: {dialect} body with signature {:?}",
                body.signature
            ));
        }
        let at = |e: String| format!("body {index}: {e}");
        match &body.info {
            Info::Stream(s) => stream(s).map_err(at)?,
            Info::HybridAddOn(h) => hybrid(h).map_err(at)?,
            Info::Obd(o) => obd(o).map_err(at)?,
            Info::UserDefined { info_type, .. } if !(0x80..=0xFE).contains(info_type) => {
                return Err(at(format!("user-defined body of type {info_type:#04X}")))
            }
            _ => {}
        }
    }
    for (n, entry) in unit.streams().enumerate() {
        if entry.ordinal != n {
            return Err(format!("stream ordinal {} in place {n}", entry.ordinal));
        }
    }
    Ok(())
}

fn stream(s: &StreamBody) -> Result<(), String> {
    for field in StreamField::ALL {
        reading(field.spec(), s.raw(field), s.value(field))?;
    }
    // The named accessors must read the fields they are named for.
    let named = [
        (StreamField::Speed, s.speed_kmh()),
        (
            StreamField::AtmosphericPressure,
            s.atmospheric_pressure_kpa(),
        ),
        (StreamField::NetTorque, s.net_torque_pct()),
        (StreamField::FrictionTorque, s.friction_torque_pct()),
        (StreamField::EngineRpm, s.engine_rpm()),
        (StreamField::FuelFlow, s.fuel_flow_lph()),
        (StreamField::NoxUpstream, s.nox_upstream_ppm()),
        (StreamField::NoxDownstream, s.nox_downstream_ppm()),
        (StreamField::Reagent, s.reagent_pct()),
        (StreamField::IntakeAir, s.intake_air_kgph()),
        (StreamField::ScrInlet, s.scr_inlet_c()),
        (StreamField::ScrOutlet, s.scr_outlet_c()),
        (StreamField::DpfDifferentialPressure, s.dpf_dp_kpa()),
        (StreamField::Coolant, s.coolant_c()),
        (StreamField::FuelLevel, s.fuel_level_pct()),
        (StreamField::Odometer, s.odometer_km()),
    ];
    for (field, value) in named {
        if !same(value, s.value(field)) {
            return Err(format!(
                "accessor for {} gives {value:?}, the field reads {:?}",
                field.spec().name,
                s.value(field)
            ));
        }
    }
    position("stream position", s.position_status(), s.position())
}

fn hybrid(h: &HybridBody) -> Result<(), String> {
    for field in HybridField::ALL {
        reading(field.spec(), h.raw(field), h.value(field))?;
    }
    let named = [
        (HybridField::MotorRpm, h.motor_rpm()),
        (HybridField::MotorLoad, h.motor_load_pct()),
        (HybridField::BatteryVoltage, h.battery_voltage_v()),
        (HybridField::BatteryCurrent, h.battery_current_a()),
        (HybridField::StateOfCharge, h.soc_pct()),
    ];
    for (field, value) in named {
        if !same(value, h.value(field)) {
            return Err(format!(
                "accessor for {} gives {value:?}, the field reads {:?}",
                field.spec().name,
                h.value(field)
            ));
        }
    }
    Ok(())
}

fn obd(o: &ObdBody) -> Result<(), String> {
    match o.dtc_count() {
        Ok(n) if n <= DTC_COUNT_MAX && usize::from(n) == o.dtcs().len() => Ok(()),
        Err(Absent::Invalid) if o.dtcs().is_empty() => Ok(()),
        other => Err(format!(
            "OBD DTC count {other:?} with {} DTCs",
            o.dtcs().len()
        )),
    }
}

/// A present value lies in the field's range; an absence names the reason the raw value
/// actually has (data-quality metrics count them). The decoder has no code for `Missing`.
fn reading(spec: &FieldSpec, raw: u32, value: Reading<f64>) -> Result<(), String> {
    let ones = match spec.width {
        1 => 0xFF,
        2 => 0xFFFF,
        _ => u32::MAX,
    };
    let ok = match value {
        Ok(v) => v.is_finite() && v >= spec.min() && v <= spec.max(),
        Err(Absent::Invalid) => raw == ones,
        Err(Absent::Abnormal) => raw == ones - 1,
        Err(Absent::NotReady) => spec.zero_not_ready && raw == 0,
        Err(Absent::OutOfRange) => raw > spec.max_raw,
        Err(Absent::Missing) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} raw {raw:#X} reads {value:?}, range {}..={}",
            spec.name,
            spec.min(),
            spec.max()
        ))
    }
}

fn position(what: &str, status: u8, p: Reading<Position>) -> Result<(), String> {
    let ok = match p {
        Ok(p) => {
            p.lon.is_finite()
                && p.lat.is_finite()
                && p.lon.abs() <= 180.0
                && p.lat.abs() <= 90.0
                && p.valid == (status & 0x01 == 0)
        }
        Err(Absent::Missing | Absent::NotReady) => false,
        Err(_) => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{what} with status {status:#04X} reads {p:?}"))
    }
}

/// Equal, and for floats bit for bit.
fn same(a: Reading<f64>, b: Reading<f64>) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => x.to_bits() == y.to_bits(),
        (a, b) => a == b,
    }
}

/// Upper-case hex, one space between bytes, for messages.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&format!("{b:02X}"));
    }
    out
}
