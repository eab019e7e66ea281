//! Chinese licence plates: province abbreviation, issuing-authority letter, then five
//! characters (six for new-energy plates, with D/F first or last), optionally a suffix such as 挂.
//!
//! Stored in 9 bytes so it fits the per-vehicle state budget.

use std::fmt;
use std::num::NonZeroU8;

const PROVINCES: [char; 31] = [
    '京', '津', '沪', '渝', '冀', '豫', '云', '辽', '黑', '湘', '皖', '鲁', '新', '苏', '浙', '赣',
    '鄂', '桂', '甘', '晋', '蒙', '陕', '吉', '闽', '贵', '粤', '青', '藏', '川', '宁', '琼',
];
const SUFFIXES: [char; 5] = ['挂', '学', '警', '港', '澳'];

/// A validated plate. `province` is 1-based into the province list (1 = 京).
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Plate {
    province: NonZeroU8,
    /// Authority letter then 5 or 6 ASCII characters; 0-padded.
    chars: [u8; 7],
    /// 0 = none, else 1-based into the suffix list.
    suffix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlateError {
    #[error("plate must start with a province abbreviation")]
    Province,
    #[error("plate must have an authority letter after the province")]
    Authority,
    #[error("plate serial must be 5 characters (6 for new-energy plates) of A-H, J-N, P-Z, 0-9")]
    Serial,
}

fn serial_char(c: char) -> bool {
    c.is_ascii_digit() || (c.is_ascii_uppercase() && c != 'I' && c != 'O')
}

impl Plate {
    pub fn parse(text: &str) -> Result<Plate, PlateError> {
        let mut it = text.chars();
        let province = it
            .next()
            .and_then(|c| PROVINCES.iter().position(|&p| p == c))
            .ok_or(PlateError::Province)?;
        let authority = it
            .next()
            .filter(char::is_ascii_uppercase)
            .ok_or(PlateError::Authority)?;
        let mut rest: Vec<char> = it.collect();
        let mut suffix = 0;
        if let Some(last) = rest.last() {
            if let Some(i) = SUFFIXES.iter().position(|s| s == last) {
                suffix = i as u8 + 1;
                rest.pop();
            }
        }
        let serial_ok = rest.iter().all(|&c| serial_char(c));
        let new_energy = rest.len() == 6
            && suffix == 0
            && (matches!(rest[0], 'D' | 'F') || matches!(rest[5], 'D' | 'F'));
        let ordinary = rest.len() == 5 || (rest.len() == 4 && suffix != 0);
        if !serial_ok || !(ordinary || new_energy) {
            return Err(PlateError::Serial);
        }
        let mut chars = [0u8; 7];
        chars[0] = authority as u8;
        for (slot, c) in chars[1..].iter_mut().zip(&rest) {
            *slot = *c as u8;
        }
        Ok(Plate {
            province: NonZeroU8::new(province as u8 + 1).expect("1-based"),
            chars,
            suffix,
        })
    }

    /// The province abbreviation, e.g. '京'.
    pub fn region(&self) -> char {
        PROVINCES[usize::from(self.province.get() - 1)]
    }

    /// Registered in Beijing (京). Everything else is out-of-town (外埠).
    pub fn is_beijing(&self) -> bool {
        self.province.get() == 1
    }

    pub fn is_new_energy(&self) -> bool {
        self.chars[6] != 0
    }
}

impl fmt::Display for Plate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.region())?;
        for &c in self.chars.iter().take_while(|&&c| c != 0) {
            write!(f, "{}", c as char)?;
        }
        if self.suffix != 0 {
            write!(f, "{}", SUFFIXES[usize::from(self.suffix - 1)])?;
        }
        Ok(())
    }
}

impl fmt::Debug for Plate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plate({self})")
    }
}

/// Plate colour by the traffic-police code table. A plate is its text and colour together: the
/// same characters on a blue and a yellow plate are two vehicles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlateColour {
    /// Small vehicles.
    Blue = 1,
    /// Large vehicles: heavy trucks, buses, trailers.
    Yellow = 2,
    Black = 3,
    White = 4,
    /// New energy, small.
    Green = 5,
    /// New energy, large.
    YellowGreen = 6,
}

impl PlateColour {
    pub const ALL: [PlateColour; 6] = [
        PlateColour::Blue,
        PlateColour::Yellow,
        PlateColour::Black,
        PlateColour::White,
        PlateColour::Green,
        PlateColour::YellowGreen,
    ];

    /// The colour of a code (1–6); 0 (unknown) and anything else is `None`.
    pub fn from_code(code: i32) -> Option<PlateColour> {
        PlateColour::ALL.into_iter().find(|c| *c as i32 == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            PlateColour::Blue => "blue",
            PlateColour::Yellow => "yellow",
            PlateColour::Black => "black",
            PlateColour::White => "white",
            PlateColour::Green => "green",
            PlateColour::YellowGreen => "yellow-green",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_and_out_of_town() {
        let bj = Plate::parse("京A12345").unwrap();
        assert!(bj.is_beijing());
        assert_eq!(bj.region(), '京');
        let heb = Plate::parse("冀F8K2M1").unwrap();
        assert!(!heb.is_beijing());
        assert_eq!(heb.to_string(), "冀F8K2M1");
    }

    #[test]
    fn new_energy_plates() {
        assert!(Plate::parse("京AD12345").unwrap().is_new_energy());
        assert!(Plate::parse("粤B12345F").unwrap().is_new_energy());
        assert_eq!(Plate::parse("京A123456"), Err(PlateError::Serial));
    }

    #[test]
    fn suffixes_round_trip() {
        let p = Plate::parse("冀B1234挂").unwrap();
        assert_eq!(p.to_string(), "冀B1234挂");
        assert!(!p.is_new_energy());
    }

    #[test]
    fn rejects_bad_plates() {
        assert_eq!(Plate::parse("X A12345"), Err(PlateError::Province));
        assert_eq!(Plate::parse("京112345"), Err(PlateError::Authority));
        assert_eq!(Plate::parse("京A1234O"), Err(PlateError::Serial));
        assert_eq!(Plate::parse("京A1234"), Err(PlateError::Serial));
        assert_eq!(Plate::parse(""), Err(PlateError::Province));
    }

    #[test]
    fn colours_follow_the_code_table() {
        assert_eq!(PlateColour::from_code(2), Some(PlateColour::Yellow));
        assert_eq!(PlateColour::from_code(0), None);
        assert_eq!(PlateColour::from_code(7), None);
        for c in PlateColour::ALL {
            assert_eq!(PlateColour::from_code(c as i32), Some(c), "{}", c.name());
        }
    }

    #[test]
    fn fits_the_state_budget() {
        assert_eq!(std::mem::size_of::<Option<Plate>>(), 9);
    }
}
