//! The hybrid add-on body (HJ 1239 type 0x04, 8 bytes): motor speed and load, battery voltage,
//! current and state of charge, kept as wire bytes and read through the same `FieldSpec`
//! machinery as the data stream.
//!
//! Pure. No I/O, no allocation, no panics.

use super::stream::{read_be, spec, write_be, FieldSpec, ValueError};
use crate::model::Reading;

/// Bytes in a hybrid add-on body (type 0x04).
pub const HYBRID_BODY_LEN: usize = 8;

/// The scalar fields of the hybrid add-on body (type 0x04), in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HybridField {
    MotorRpm,
    MotorLoad,
    BatteryVoltage,
    BatteryCurrent,
    StateOfCharge,
}

/// domain.md states widths, resolutions and offsets for these but no ranges, so (as for
/// mileage) only the sentinels make a value absent; the motor speed is taken as 1 rpm per bit
/// and the percentages as 1 % per bit, the domain brief giving no other resolution.
pub const HYBRID_FIELDS: [FieldSpec; 5] = [
    spec("motor_rpm", "rpm", 0, 2, (1.0, 1.0), 0.0, 0xFFFD),
    spec("motor_load", "%", 2, 1, (1.0, 1.0), 0.0, 0xFD),
    spec("battery_voltage", "V", 3, 2, (1.0, 10.0), 0.0, 0xFFFD),
    spec("battery_current", "A", 5, 2, (1.0, 10.0), -1000.0, 0xFFFD),
    spec("state_of_charge", "%", 7, 1, (1.0, 1.0), 0.0, 0xFD),
];

impl HybridField {
    pub const ALL: [HybridField; 5] = [
        HybridField::MotorRpm,
        HybridField::MotorLoad,
        HybridField::BatteryVoltage,
        HybridField::BatteryCurrent,
        HybridField::StateOfCharge,
    ];

    pub fn spec(self) -> &'static FieldSpec {
        &HYBRID_FIELDS[self as usize]
    }
}

/// Hybrid add-on sample (HJ 1239 type 0x04) as it arrived.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HybridBody([u8; HYBRID_BODY_LEN]);

impl HybridBody {
    pub const fn from_raw(bytes: [u8; HYBRID_BODY_LEN]) -> HybridBody {
        HybridBody(bytes)
    }

    pub const fn all_invalid() -> HybridBody {
        HybridBody([0xFF; HYBRID_BODY_LEN])
    }

    pub fn as_bytes(&self) -> &[u8; HYBRID_BODY_LEN] {
        &self.0
    }

    pub fn raw(&self, field: HybridField) -> u32 {
        let spec = field.spec();
        read_be(&self.0, spec.at, spec.width)
    }

    pub fn value(&self, field: HybridField) -> Reading<f64> {
        field.spec().reading(self.raw(field))
    }

    pub fn motor_rpm(&self) -> Reading<f64> {
        self.value(HybridField::MotorRpm)
    }

    pub fn motor_load_pct(&self) -> Reading<f64> {
        self.value(HybridField::MotorLoad)
    }

    pub fn battery_voltage_v(&self) -> Reading<f64> {
        self.value(HybridField::BatteryVoltage)
    }

    pub fn battery_current_a(&self) -> Reading<f64> {
        self.value(HybridField::BatteryCurrent)
    }

    pub fn soc_pct(&self) -> Reading<f64> {
        self.value(HybridField::StateOfCharge)
    }

    pub fn set(&mut self, field: HybridField, value: Reading<f64>) -> Result<(), ValueError> {
        let spec = field.spec();
        let raw = spec.raw_for(value)?;
        write_be(&mut self.0, spec.at, spec.width, raw);
        Ok(())
    }

    pub fn with(mut self, field: HybridField, value: Reading<f64>) -> Result<Self, ValueError> {
        self.set(field, value)?;
        Ok(self)
    }
}

impl std::fmt::Debug for HybridBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("HybridBody");
        for field in HybridField::ALL {
            d.field(field.spec().name, &self.value(field));
        }
        d.finish()
    }
}
