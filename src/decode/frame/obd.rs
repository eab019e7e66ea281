//! The OBD body (type 0x01): protocol, MIL, monitor words, the ECU's VIN, calibration ID,
//! CVN, IUPR and the diagnostic trouble codes, with the DTC decodings for ISO 15765 / 27145
//! (SAE 3-byte DTC + status) and SAE J1939 (SPN / FMI / OC).
//!
//! Pure. No I/O, no panics. Raw bytes are kept as they arrived; meanings are computed on demand
//! so a protocol or bit order this module does not know never costs the evidence. Which DTCs
//! are emission-relevant is a rule's decision, not this module's.

use std::fmt;
use std::str::FromStr;

use crate::model::{Absent, Reading, Vin, VinError};

/// Bytes of an OBD body before its DTC list.
pub const OBD_FIXED_LEN: usize = 96;
/// DTC count meaning "invalid": no DTC list follows.
pub const DTC_COUNT_INVALID: u8 = 0xFE;
/// Largest DTC count the protocol allows.
pub const DTC_COUNT_MAX: u8 = 253;

/// The diagnostic protocol the terminal speaks to the engine ECU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObdProtocol {
    Iso15765,
    Iso27145,
    SaeJ1939,
    /// 0xFE: the terminal says it does not know.
    Invalid,
    /// Any other code: kept, not rejected.
    Unknown(u8),
}

impl ObdProtocol {
    pub fn from_code(code: u8) -> ObdProtocol {
        match code {
            0 => ObdProtocol::Iso15765,
            1 => ObdProtocol::Iso27145,
            2 => ObdProtocol::SaeJ1939,
            0xFE => ObdProtocol::Invalid,
            other => ObdProtocol::Unknown(other),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            ObdProtocol::Iso15765 => 0,
            ObdProtocol::Iso27145 => 1,
            ObdProtocol::SaeJ1939 => 2,
            ObdProtocol::Invalid => 0xFE,
            ObdProtocol::Unknown(code) => code,
        }
    }
}

/// One OBD report as it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObdBody {
    pub protocol_code: u8,
    pub mil_code: u8,
    /// Diagnostic-support word: which monitors the ECU supports (see [`monitor_bit`]).
    pub diagnostic_support: u16,
    /// Readiness word: per-monitor readiness bits (see [`monitor_bit`]).
    pub readiness: u16,
    /// The VIN the engine ECU reports; compared with the frame VIN by the tamper rule.
    pub vin_bytes: [u8; 17],
    /// ASCII, right-padded with "0".
    pub calibration_id: [u8; 18],
    pub cvn: [u8; 18],
    /// In-use performance ratios, kept opaque (domain.md gives no layout).
    pub iupr: [u8; 36],
    /// `None` when the terminal sent the "invalid" count 0xFE (then no DTC follows).
    pub dtcs: Option<Vec<Dtc>>,
}

impl ObdBody {
    pub fn protocol(&self) -> ObdProtocol {
        ObdProtocol::from_code(self.protocol_code)
    }

    /// MIL on/off; 0xFE (the protocol's "invalid") and 0xFF are invalid, any other code out of
    /// range.
    pub fn mil(&self) -> Reading<bool> {
        match self.mil_code {
            0 => Ok(false),
            1 => Ok(true),
            0xFE | 0xFF => Err(Absent::Invalid),
            _ => Err(Absent::OutOfRange),
        }
    }

    pub fn vin(&self) -> Result<Vin, VinError> {
        Vin::from_bytes(&self.vin_bytes)
    }

    pub fn dtc_count(&self) -> Reading<u8> {
        match &self.dtcs {
            // At most DTC_COUNT_MAX by construction of the decoder; the encoder checks.
            Some(list) => u8::try_from(list.len()).map_err(|_| Absent::OutOfRange),
            None => Err(Absent::Invalid),
        }
    }

    /// The raw DTCs; empty when the count was invalid.
    pub fn dtcs(&self) -> &[Dtc] {
        self.dtcs.as_deref().unwrap_or(&[])
    }

    /// Each DTC decoded for this body's protocol; `None` per DTC when the protocol is invalid
    /// or unknown (the raw bytes stay available through [`ObdBody::dtcs`]).
    pub fn decoded_dtcs(&self) -> impl Iterator<Item = Option<DecodedDtc>> + '_ {
        let protocol = self.protocol();
        self.dtcs().iter().map(move |d| d.decode(protocol))
    }

    /// Bytes this body takes on the wire after its type byte (and time, in HJ 1239).
    pub fn wire_len(&self) -> usize {
        OBD_FIXED_LEN + 4 * self.dtcs().len()
    }
}

/// One diagnostic trouble code, the 4 bytes as sent.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dtc(pub [u8; 4]);

impl Dtc {
    /// ISO 15765 / ISO 27145 reading: 3-byte SAE DTC + status byte.
    pub fn sae(self) -> SaeDtc {
        let [high, low, failure_type, status] = self.0;
        SaeDtc {
            high,
            low,
            failure_type,
            status,
        }
    }

    /// SAE J1939 DM1 reading: SPN (19 bits), FMI (5), conversion method (1), occurrence count (7).
    pub fn j1939(self) -> J1939Dtc {
        let [b0, b1, b2, b3] = self.0;
        J1939Dtc {
            spn: u32::from(b0) | u32::from(b1) << 8 | u32::from(b2 >> 5) << 16,
            fmi: b2 & 0x1F,
            occurrences: b3 & 0x7F,
            conversion_method: b3 >> 7,
        }
    }

    pub fn decode(self, protocol: ObdProtocol) -> Option<DecodedDtc> {
        match protocol {
            ObdProtocol::Iso15765 | ObdProtocol::Iso27145 => Some(DecodedDtc::Sae(self.sae())),
            ObdProtocol::SaeJ1939 => Some(DecodedDtc::J1939(self.j1939())),
            ObdProtocol::Invalid | ObdProtocol::Unknown(_) => None,
        }
    }
}

impl fmt::Debug for Dtc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "Dtc({a:02X} {b:02X} {c:02X} {d:02X})")
    }
}

/// A SAE J2012 DTC: two bytes of code, the failure-type byte and the status byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SaeDtc {
    pub high: u8,
    pub low: u8,
    pub failure_type: u8,
    pub status: u8,
}

impl SaeDtc {
    /// The five-character code, e.g. `P2047`: the top two bits pick P/C/B/U, the next two the
    /// first digit, then three hex digits. Returned as ASCII so callers need not allocate.
    pub fn code(&self) -> [u8; 5] {
        const SYSTEMS: [u8; 4] = *b"PCBU";
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let nibble = |n: u8| HEX[usize::from(n & 0x0F)];
        [
            SYSTEMS[usize::from(self.high >> 6)],
            b'0' + ((self.high >> 4) & 0x03),
            nibble(self.high),
            nibble(self.low >> 4),
            nibble(self.low),
        ]
    }
}

impl fmt::Display for SaeDtc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code();
        // Every byte of `code` comes from an ASCII table.
        f.write_str(std::str::from_utf8(&code).unwrap_or("?????"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct J1939Dtc {
    pub spn: u32,
    pub fmi: u8,
    pub occurrences: u8,
    pub conversion_method: u8,
}

impl fmt::Display for J1939Dtc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SPN {} FMI {} OC {}",
            self.spn, self.fmi, self.occurrences
        )
    }
}

/// A DTC read for its protocol; `Display` gives `P2047` or `SPN 4364 FMI 18 OC 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodedDtc {
    Sae(SaeDtc),
    J1939(J1939Dtc),
}

impl fmt::Display for DecodedDtc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodedDtc::Sae(d) => d.fmt(f),
            DecodedDtc::J1939(d) => d.fmt(f),
        }
    }
}

/// The 16 OBD monitors in domain.md order (monitor 1 … monitor 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Monitor {
    Catalyst,
    HeatedCatalyst,
    Evaporative,
    SecondaryAir,
    AcRefrigerant,
    ExhaustGasSensor,
    ExhaustGasSensorHeater,
    EgrVvt,
    ColdStartAid,
    BoostPressure,
    Dpf,
    ScrNoxAdsorber,
    NmhcCatalyst,
    Misfire,
    FuelSystem,
    ComprehensiveComponent,
}

impl Monitor {
    pub const ALL: [Monitor; 16] = [
        Monitor::Catalyst,
        Monitor::HeatedCatalyst,
        Monitor::Evaporative,
        Monitor::SecondaryAir,
        Monitor::AcRefrigerant,
        Monitor::ExhaustGasSensor,
        Monitor::ExhaustGasSensorHeater,
        Monitor::EgrVvt,
        Monitor::ColdStartAid,
        Monitor::BoostPressure,
        Monitor::Dpf,
        Monitor::ScrNoxAdsorber,
        Monitor::NmhcCatalyst,
        Monitor::Misfire,
        Monitor::FuelSystem,
        Monitor::ComprehensiveComponent,
    ];

    /// 1-based number, as domain.md counts them.
    pub fn number(self) -> u8 {
        self as u8 + 1
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Monitor::Catalyst => "catalyst",
            Monitor::HeatedCatalyst => "heated_catalyst",
            Monitor::Evaporative => "evaporative",
            Monitor::SecondaryAir => "secondary_air",
            Monitor::AcRefrigerant => "ac_refrigerant",
            Monitor::ExhaustGasSensor => "exhaust_gas_sensor",
            Monitor::ExhaustGasSensorHeater => "exhaust_gas_sensor_heater",
            Monitor::EgrVvt => "egr_vvt",
            Monitor::ColdStartAid => "cold_start_aid",
            Monitor::BoostPressure => "boost_pressure",
            Monitor::Dpf => "dpf",
            Monitor::ScrNoxAdsorber => "scr_nox_adsorber",
            Monitor::NmhcCatalyst => "nmhc_catalyst",
            Monitor::Misfire => "misfire",
            Monitor::FuelSystem => "fuel_system",
            Monitor::ComprehensiveComponent => "comprehensive_component",
        }
    }
}

/// Which bit of a monitor word is monitor 1. Implementations differ, so this is configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BitOrder {
    /// Bit 0 (least significant) = monitor 1 (domain.md default).
    #[default]
    LsbFirst,
    /// Bit 15 (most significant) = monitor 1.
    MsbFirst,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown monitor bit order {0:?} (expected lsb_first or msb_first)")]
pub struct UnknownBitOrder(pub String);

impl FromStr for BitOrder {
    type Err = UnknownBitOrder;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "lsb_first" => Ok(BitOrder::LsbFirst),
            "msb_first" => Ok(BitOrder::MsbFirst),
            other => Err(UnknownBitOrder(other.to_owned())),
        }
    }
}

/// Whether `monitor`'s bit is set in a diagnostic-support or readiness word.
pub fn monitor_bit(word: u16, monitor: Monitor, order: BitOrder) -> bool {
    let index = u32::from(monitor as u8);
    let bit = match order {
        BitOrder::LsbFirst => index,
        BitOrder::MsbFirst => 15 - index,
    };
    (word >> bit) & 1 == 1
}

/// The monitors whose bit is set, in monitor order.
pub fn monitors_set(word: u16, order: BitOrder) -> impl Iterator<Item = Monitor> {
    Monitor::ALL
        .into_iter()
        .filter(move |&m| monitor_bit(word, m, order))
}
