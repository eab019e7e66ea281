//! The data-stream body (type 0x02, 37 bytes) and `FieldSpec`, the field table shared with the
//! hybrid add-on body: wire bytes kept as they arrived, physical values computed on demand, and
//! the reverse (physical value or absence → raw) for the simulator.
//!
//! Pure. No I/O, no allocation, no panics: a body is a `Copy` byte array, every accessor is a
//! couple of loads and compares. What a value means (sentinels, ranges, the not-ready code)
//! lives only in `FieldSpec`; nothing here decides what a rule does with an absent value.

use crate::model::{Absent, Position, Reading};

/// Bytes in a data-stream body (type 0x02).
pub const STREAM_BODY_LEN: usize = 37;

/// Where one scalar field sits on the wire and what its raw integer means.
///
/// The resolution is held as the fraction `num / den` so that
/// `physical = (raw·num + offset·den) / den` is exact integer arithmetic in `f64` followed by
/// one correctly rounded division: 0.05 or 0.4 as binary fractions would turn a raw 250 into
/// 100.00000000000001 %.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldSpec {
    pub name: &'static str,
    pub unit: &'static str,
    /// Byte position inside the body.
    pub at: usize,
    /// 1, 2 or 4 bytes, big-endian.
    pub width: usize,
    pub num: f64,
    pub den: f64,
    /// Physical value of raw 0.
    pub offset: f64,
    /// Largest raw value inside the valid range (the smallest is always 0). Fields without a
    /// stated range use the largest non-sentinel raw value, so only the sentinels apply.
    pub max_raw: u32,
    /// Raw 0 means "sensor not ready" (NOx) rather than the physical minimum.
    pub zero_not_ready: bool,
}

impl FieldSpec {
    pub fn resolution(&self) -> f64 {
        self.num / self.den
    }

    /// Smallest physical value in range.
    pub fn min(&self) -> f64 {
        self.offset
    }

    /// Largest physical value in range.
    pub fn max(&self) -> f64 {
        self.physical(self.max_raw)
    }

    #[inline(always)]
    pub fn physical(&self, raw: u32) -> f64 {
        (f64::from(raw) * self.num + self.offset * self.den) / self.den
    }

    /// All ones for the field's width: the "invalid" sentinel; one less is "abnormal".
    #[inline(always)]
    fn all_ones(&self) -> u32 {
        match self.width {
            1 => 0xFF,
            2 => 0xFFFF,
            _ => 0xFFFF_FFFF,
        }
    }

    #[inline(always)]
    pub fn reading(&self, raw: u32) -> Reading<f64> {
        let ones = self.all_ones();
        if raw == ones {
            Err(Absent::Invalid)
        } else if raw == ones - 1 {
            Err(Absent::Abnormal)
        } else if self.zero_not_ready && raw == 0 {
            Err(Absent::NotReady)
        } else if raw > self.max_raw {
            Err(Absent::OutOfRange)
        } else {
            Ok(self.physical(raw))
        }
    }

    /// The raw value that decodes back to `value` (rounded to the resolution), or the
    /// sentinel for an absent reason. `Missing` is written as invalid (all ones): the wire has
    /// no separate code for it. An out-of-range absence is written as the J1939-style
    /// `0xFE 0xFF` word real frames carry (2-byte fields) or the first raw value past the range.
    pub fn raw_for(&self, value: Reading<f64>) -> Result<u32, ValueError> {
        let ones = self.all_ones();
        match value {
            Ok(v) => {
                let raw = ((v - self.offset) * self.den / self.num).round();
                if !(raw >= 0.0 && raw <= f64::from(self.max_raw)) {
                    return Err(ValueError::OutOfRange {
                        field: self.name,
                        value: v,
                    });
                }
                let raw = raw as u32;
                if self.zero_not_ready && raw == 0 {
                    return Err(ValueError::Reserved {
                        field: self.name,
                        value: v,
                    });
                }
                Ok(raw)
            }
            Err(Absent::Invalid | Absent::Missing) => Ok(ones),
            Err(Absent::Abnormal) => Ok(ones - 1),
            Err(Absent::NotReady) if self.zero_not_ready => Ok(0),
            Err(Absent::OutOfRange) if self.width == 2 && self.max_raw < 0xFEFF => Ok(0xFEFF),
            Err(Absent::OutOfRange) if self.max_raw < ones - 2 => Ok(self.max_raw + 1),
            Err(reason) => Err(ValueError::NoCode {
                field: self.name,
                reason,
            }),
        }
    }
}

/// Why a physical value cannot be written into a body.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error("{field} {value} is outside the field's valid range")]
    OutOfRange { field: &'static str, value: f64 },
    #[error("{field} {value} encodes to the not-ready code")]
    Reserved { field: &'static str, value: f64 },
    #[error("{field} has no wire code for a {} value", reason.as_str())]
    NoCode { field: &'static str, reason: Absent },
}

#[inline(always)]
pub(super) fn read_be(bytes: &[u8], at: usize, width: usize) -> u32 {
    // Table specs always fit their body; a mismatch reads as all ones (invalid), never panics.
    match bytes.get(at..at.saturating_add(width)) {
        Some(&[a]) => u32::from(a),
        Some(&[a, b]) => u32::from(u16::from_be_bytes([a, b])),
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => u32::MAX,
    }
}

pub(super) fn write_be(bytes: &mut [u8], at: usize, width: usize, raw: u32) {
    let be = raw.to_be_bytes();
    if let (Some(dst), Some(src)) = (
        bytes.get_mut(at..at + width),
        be.get(4usize.saturating_sub(width)..),
    ) {
        dst.copy_from_slice(src);
    }
}

pub(super) const fn spec(
    name: &'static str,
    unit: &'static str,
    at: usize,
    width: usize,
    (num, den): (f64, f64),
    offset: f64,
    max_raw: u32,
) -> FieldSpec {
    FieldSpec {
        name,
        unit,
        at,
        width,
        num,
        den,
        offset,
        max_raw,
        zero_not_ready: false,
    }
}

const fn nox(name: &'static str, at: usize) -> FieldSpec {
    let mut s = spec(name, "ppm", at, 2, (1.0, 20.0), -200.0, 0xFAFF);
    s.zero_not_ready = true;
    s
}

/// The scalar fields of a data-stream body, in wire order. Positioning status is a bit field
/// and is read through [`StreamBody::position`] together with longitude and latitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamField {
    Speed,
    AtmosphericPressure,
    NetTorque,
    FrictionTorque,
    EngineRpm,
    FuelFlow,
    NoxUpstream,
    NoxDownstream,
    Reagent,
    IntakeAir,
    ScrInlet,
    ScrOutlet,
    DpfDifferentialPressure,
    Coolant,
    FuelLevel,
    Longitude,
    Latitude,
    Odometer,
}

/// Byte position of the positioning-status bits in a data-stream body.
pub const POSITION_STATUS_AT: usize = 24;

/// domain.md §2 table, indexed by `StreamField as usize`. `max_raw` is the stated upper bound
/// ÷ resolution (0xFAFF for the 2-byte fields, 250 for the 1-byte ones); mileage has no stated
/// range, so only its sentinels apply.
pub const STREAM_FIELDS: [FieldSpec; 18] = [
    spec("speed", "km/h", 0, 2, (1.0, 256.0), 0.0, 0xFAFF),
    spec("atmospheric_pressure", "kPa", 2, 1, (1.0, 2.0), 0.0, 250),
    spec("net_torque", "%", 3, 1, (1.0, 1.0), -125.0, 250),
    spec("friction_torque", "%", 4, 1, (1.0, 1.0), -125.0, 250),
    spec("engine_rpm", "rpm", 5, 2, (1.0, 8.0), 0.0, 0xFAFF),
    spec("fuel_flow", "L/h", 7, 2, (1.0, 20.0), 0.0, 0xFAFF),
    nox("nox_upstream", 9),
    nox("nox_downstream", 11),
    spec("reagent", "%", 13, 1, (2.0, 5.0), 0.0, 250),
    spec("intake_air", "kg/h", 14, 2, (1.0, 20.0), 0.0, 0xFAFF),
    spec("scr_inlet", "°C", 16, 2, (1.0, 32.0), -273.0, 0xFAFF),
    spec("scr_outlet", "°C", 18, 2, (1.0, 32.0), -273.0, 0xFAFF),
    spec("dpf_dp", "kPa", 20, 2, (1.0, 10.0), 0.0, 0xFAFF),
    spec("coolant", "°C", 22, 1, (1.0, 1.0), -40.0, 250),
    spec("fuel_level", "%", 23, 1, (2.0, 5.0), 0.0, 250),
    spec("longitude", "°", 25, 4, (1.0, 1e6), 0.0, 180_000_000),
    spec("latitude", "°", 29, 4, (1.0, 1e6), 0.0, 90_000_000),
    spec("odometer", "km", 33, 4, (1.0, 10.0), 0.0, 0xFFFF_FFFD),
];

impl StreamField {
    pub const ALL: [StreamField; 18] = [
        StreamField::Speed,
        StreamField::AtmosphericPressure,
        StreamField::NetTorque,
        StreamField::FrictionTorque,
        StreamField::EngineRpm,
        StreamField::FuelFlow,
        StreamField::NoxUpstream,
        StreamField::NoxDownstream,
        StreamField::Reagent,
        StreamField::IntakeAir,
        StreamField::ScrInlet,
        StreamField::ScrOutlet,
        StreamField::DpfDifferentialPressure,
        StreamField::Coolant,
        StreamField::FuelLevel,
        StreamField::Longitude,
        StreamField::Latitude,
        StreamField::Odometer,
    ];

    #[inline(always)]
    pub fn spec(self) -> &'static FieldSpec {
        &STREAM_FIELDS[self as usize]
    }
}

/// One data-stream sample as it arrived: 37 raw bytes, decoded field by field on demand.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamBody([u8; STREAM_BODY_LEN]);

macro_rules! readings {
    ($($(#[$doc:meta])* $name:ident => $field:ident;)*) => {$(
        $(#[$doc])*
        #[inline]
        pub fn $name(&self) -> Reading<f64> {
            self.value(StreamField::$field)
        }
    )*};
}

impl StreamBody {
    pub const fn from_raw(bytes: [u8; STREAM_BODY_LEN]) -> StreamBody {
        StreamBody(bytes)
    }

    /// Every field invalid (all 0xFF): the starting point for [`StreamBody::with`].
    pub const fn all_invalid() -> StreamBody {
        StreamBody([0xFF; STREAM_BODY_LEN])
    }

    pub fn as_bytes(&self) -> &[u8; STREAM_BODY_LEN] {
        &self.0
    }

    #[inline(always)]
    pub fn raw(&self, field: StreamField) -> u32 {
        let spec = field.spec();
        read_be(&self.0, spec.at, spec.width)
    }

    #[inline(always)]
    pub fn value(&self, field: StreamField) -> Reading<f64> {
        field.spec().reading(self.raw(field))
    }

    readings! {
        /// Vehicle speed, km/h.
        speed_kmh => Speed;
        atmospheric_pressure_kpa => AtmosphericPressure;
        /// Engine net output torque, % (−125…125).
        net_torque_pct => NetTorque;
        friction_torque_pct => FrictionTorque;
        engine_rpm => EngineRpm;
        fuel_flow_lph => FuelFlow;
        /// SCR upstream NOx, ppm; raw 0 is "not ready".
        nox_upstream_ppm => NoxUpstream;
        /// SCR downstream NOx, ppm; raw 0 is "not ready".
        nox_downstream_ppm => NoxDownstream;
        /// Reagent (urea) remaining, %.
        reagent_pct => Reagent;
        intake_air_kgph => IntakeAir;
        scr_inlet_c => ScrInlet;
        scr_outlet_c => ScrOutlet;
        dpf_dp_kpa => DpfDifferentialPressure;
        coolant_c => Coolant;
        fuel_level_pct => FuelLevel;
        /// Cumulative mileage, km.
        odometer_km => Odometer;
    }

    pub fn position_status(&self) -> u8 {
        self.0[POSITION_STATUS_AT]
    }

    /// Fix validity and signed degrees (south and west negative).
    #[inline]
    pub fn position(&self) -> Reading<Position> {
        position_from_raw(
            self.position_status(),
            self.raw(StreamField::Longitude),
            self.raw(StreamField::Latitude),
        )
    }

    /// Writes one field from a physical value (rounded to the resolution) or an absence.
    /// Longitude and latitude take unsigned degrees here; use [`StreamBody::set_position`]
    /// for a signed fix.
    pub fn set(&mut self, field: StreamField, value: Reading<f64>) -> Result<(), ValueError> {
        let spec = field.spec();
        let raw = spec.raw_for(value)?;
        write_be(&mut self.0, spec.at, spec.width, raw);
        Ok(())
    }

    /// Builder form of [`StreamBody::set`].
    pub fn with(mut self, field: StreamField, value: Reading<f64>) -> Result<Self, ValueError> {
        self.set(field, value)?;
        Ok(self)
    }

    /// Writes status bits, longitude and latitude. An absent position is written so that
    /// [`StreamBody::position`] returns the same reason: invalid → all 0xFF; abnormal → fix
    /// flagged invalid and 0xFFFFFFFE degrees; out of range → longitude 180.000001°.
    pub fn set_position(&mut self, position: Reading<Position>) -> Result<(), ValueError> {
        let (status, lon, lat) = position_to_raw(position)?;
        self.0[POSITION_STATUS_AT] = status;
        write_be(
            &mut self.0,
            STREAM_FIELDS[StreamField::Longitude as usize].at,
            4,
            lon,
        );
        write_be(
            &mut self.0,
            STREAM_FIELDS[StreamField::Latitude as usize].at,
            4,
            lat,
        );
        Ok(())
    }

    pub fn with_position(mut self, position: Reading<Position>) -> Result<Self, ValueError> {
        self.set_position(position)?;
        Ok(self)
    }
}

impl std::fmt::Debug for StreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("StreamBody");
        for field in StreamField::ALL {
            d.field(field.spec().name, &self.value(field));
        }
        d.field("position", &self.position()).finish()
    }
}

const BIT_FIX_INVALID: u8 = 0x01;
const BIT_SOUTH: u8 = 0x02;
const BIT_WEST: u8 = 0x04;

/// Shared by the stream body and the removal alarm, which carry the same three fields.
/// A status byte of 0xFF / 0xFE is the field's own invalid / abnormal sentinel; otherwise
/// bits 3–7 are reserved and ignored.
#[inline]
pub(crate) fn position_from_raw(status: u8, lon: u32, lat: u32) -> Reading<Position> {
    match status {
        0xFF => return Err(Absent::Invalid),
        0xFE => return Err(Absent::Abnormal),
        _ => {}
    }
    let lon = STREAM_FIELDS[StreamField::Longitude as usize].reading(lon)?;
    let lat = STREAM_FIELDS[StreamField::Latitude as usize].reading(lat)?;
    Ok(Position {
        valid: status & BIT_FIX_INVALID == 0,
        lon: if status & BIT_WEST != 0 { -lon } else { lon },
        lat: if status & BIT_SOUTH != 0 { -lat } else { lat },
    })
}

pub(crate) fn position_to_raw(position: Reading<Position>) -> Result<(u8, u32, u32), ValueError> {
    let lon_spec = StreamField::Longitude.spec();
    let lat_spec = StreamField::Latitude.spec();
    match position {
        Ok(p) => {
            // Sign bits follow the sign of the value, so −0.0 (a southern fix on the
            // equator, as decoded) round-trips.
            let mut status = if p.valid { 0 } else { BIT_FIX_INVALID };
            if p.lat.is_sign_negative() {
                status |= BIT_SOUTH;
            }
            if p.lon.is_sign_negative() {
                status |= BIT_WEST;
            }
            let lon = lon_spec.raw_for(Ok(p.lon.abs()))?;
            let lat = lat_spec.raw_for(Ok(p.lat.abs()))?;
            Ok((status, lon, lat))
        }
        Err(Absent::Invalid | Absent::Missing) => Ok((0xFF, u32::MAX, u32::MAX)),
        Err(Absent::Abnormal) => Ok((BIT_FIX_INVALID, u32::MAX - 1, u32::MAX - 1)),
        Err(Absent::OutOfRange) => Ok((BIT_FIX_INVALID, lon_spec.max_raw + 1, 0)),
        Err(reason @ Absent::NotReady) => Err(ValueError::NoCode {
            field: "position",
            reason,
        }),
    }
}
