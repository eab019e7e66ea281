//! Units and readings. A `Reading<T>` is a present, range-checked value or the reason it is
//! absent; rules only ever see present values.

/// Why a value is absent. Kept so data-quality metrics can count each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Absent {
    /// Not sent, or sent without a known reason.
    Missing,
    /// All-0xFF.
    Invalid,
    /// 0xFE / 0xFFFE / 0xFFFFFFFE.
    Abnormal,
    /// Decoded outside the field's valid range.
    OutOfRange,
    /// NOx raw 0x0000: the sensor is not ready.
    NotReady,
}

impl Absent {
    /// Every reason, in declaration order (`reason as usize` indexes it).
    pub const ALL: [Absent; 5] = [
        Absent::Missing,
        Absent::Invalid,
        Absent::Abnormal,
        Absent::OutOfRange,
        Absent::NotReady,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Absent::Missing => "missing",
            Absent::Invalid => "invalid",
            Absent::Abnormal => "abnormal",
            Absent::OutOfRange => "out_of_range",
            Absent::NotReady => "not_ready",
        }
    }
}

pub type Reading<T> = Result<T, Absent>;

macro_rules! unit {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
        pub struct $name(pub f32);
    };
}

unit!(/// Parts per million (NOx).
    Ppm);
unit!(/// Revolutions per minute.
    Rpm);
unit!(/// Degrees Celsius.
    Celsius);
unit!(/// Kilometres per hour.
    Kmh);
unit!(/// Percent, 0–100.
    Percent);

/// Odometer kilometres; f64 because totals reach 10⁸ km at 0.1 km resolution.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Kilometres(pub f64);
