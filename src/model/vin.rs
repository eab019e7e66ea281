//! Vehicle identification numbers (ISO 3779 / GB 16735): 17 characters, check digit at
//! position 9.
//!
//! A VIN with the right shape but a bad check digit or a forbidden letter (I, O, Q) is kept and
//! flagged: real feeds carry test VINs, and dropping their evidence silently would be worse.
//! Only a value that cannot be a VIN at all (wrong length, not alphanumeric) is an error.

use std::fmt;

/// A 17-character VIN. Cheap to copy; the bytes are upper-case ASCII alphanumerics.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vin([u8; 17]);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VinCheck {
    Valid,
    /// Contains I, O or Q.
    ForbiddenLetter,
    BadCheckDigit,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VinError {
    #[error("VIN must be 17 characters, got {0}")]
    Length(usize),
    #[error("VIN must be ASCII letters and digits")]
    Charset,
}

const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

fn transliterate(c: u8) -> Option<u32> {
    Some(match c {
        b'0'..=b'9' => u32::from(c - b'0'),
        b'A' | b'J' => 1,
        b'B' | b'K' | b'S' => 2,
        b'C' | b'L' | b'T' => 3,
        b'D' | b'M' | b'U' => 4,
        b'E' | b'N' | b'V' => 5,
        b'F' | b'W' => 6,
        b'G' | b'P' | b'X' => 7,
        b'H' | b'Y' => 8,
        b'R' | b'Z' => 9,
        _ => return None,
    })
}

impl Vin {
    /// Accepts lower case (normalised to upper case); rejects anything not shaped like a VIN.
    pub fn parse(text: &str) -> Result<Vin, VinError> {
        Vin::from_bytes(text.as_bytes())
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Vin, VinError> {
        let bytes: [u8; 17] = bytes
            .try_into()
            .map_err(|_| VinError::Length(bytes.len()))?;
        if !bytes.iter().all(u8::is_ascii_alphanumeric) {
            return Err(VinError::Charset);
        }
        Ok(Vin(bytes.map(|b| b.to_ascii_uppercase())))
    }

    pub fn check(&self) -> VinCheck {
        let mut sum = 0;
        for (&c, &w) in self.0.iter().zip(WEIGHTS.iter()) {
            match transliterate(c) {
                Some(v) => sum += v * w,
                None => return VinCheck::ForbiddenLetter,
            }
        }
        let expected = match sum % 11 {
            10 => b'X',
            d => b'0' + d as u8,
        };
        if self.0[8] == expected {
            VinCheck::Valid
        } else {
            VinCheck::BadCheckDigit
        }
    }

    pub fn is_valid(&self) -> bool {
        self.check() == VinCheck::Valid
    }

    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII alphanumerics.
        std::str::from_utf8(&self.0).expect("VIN bytes are ASCII")
    }

    pub fn as_bytes(&self) -> &[u8; 17] {
        &self.0
    }

    /// The check digit that would make the other 16 characters valid, if they are allowed
    /// characters. Used by the simulator to mint valid VINs.
    pub fn with_check_digit(mut bytes: [u8; 17]) -> Option<Vin> {
        bytes[8] = b'0';
        let mut sum = 0;
        for (&c, &w) in bytes.iter().zip(WEIGHTS.iter()) {
            sum += transliterate(c)? * w;
        }
        bytes[8] = match sum % 11 {
            10 => b'X',
            d => b'0' + d as u8,
        };
        Some(Vin(bytes))
    }
}

impl fmt::Display for Vin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Vin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vin({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_valid_vins_pass() {
        for v in [
            "LGDCHA1G8MA127733",
            "LG6ZDANH7EY208182",
            "1M8GDM9AXKP042788",
        ] {
            assert_eq!(Vin::parse(v).unwrap().check(), VinCheck::Valid, "{v}");
        }
    }

    #[test]
    fn wrong_check_digit_is_flagged_not_rejected() {
        let vin = Vin::parse("LGDCHA1G9MA127733").unwrap();
        assert_eq!(vin.check(), VinCheck::BadCheckDigit);
    }

    #[test]
    fn forbidden_letters_are_flagged() {
        assert_eq!(
            Vin::parse("LGDCHAIG8MA127733").unwrap().check(),
            VinCheck::ForbiddenLetter
        );
        assert_eq!(
            Vin::parse("LGDCHAOG8MA127733").unwrap().check(),
            VinCheck::ForbiddenLetter
        );
        assert_eq!(
            Vin::parse("LGDCHAQG8MA127733").unwrap().check(),
            VinCheck::ForbiddenLetter
        );
    }

    #[test]
    fn malformed_values_are_errors() {
        assert_eq!(Vin::parse("LGDCHA1G8MA12773"), Err(VinError::Length(16)));
        assert_eq!(Vin::parse("LGDCHA1G8MA1277333"), Err(VinError::Length(18)));
        assert_eq!(Vin::parse("LGDCHA1G8MA12773-"), Err(VinError::Charset));
        assert_eq!(Vin::parse("LGDCHA1G8MA12773京"), Err(VinError::Length(19)));
    }

    #[test]
    fn lower_case_is_normalised() {
        assert_eq!(
            Vin::parse("lgdcha1g8ma127733").unwrap().as_str(),
            "LGDCHA1G8MA127733"
        );
    }

    #[test]
    fn check_digit_ten_is_x() {
        let vin = Vin::with_check_digit(*b"1M8GDM9A0KP042788").unwrap();
        assert_eq!(vin.as_str(), "1M8GDM9AXKP042788");
        assert!(vin.is_valid());
    }
}
