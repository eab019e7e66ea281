//! The provinces that share over-limit information (Beijing–Tianjin–Hebei, action plan item
//! 32): each runs its own platform, named by an alias (the MirrorMaker 2 cluster alias that
//! prefixes its mirrored topics) and an administrative region code.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Region {
    Beijing,
    Tianjin,
    Hebei,
}

impl Region {
    pub const ALL: [Region; 3] = [Region::Beijing, Region::Tianjin, Region::Hebei];

    /// The cluster alias: `tianjin` mirrors its topics in as `tianjin.<topic>`.
    pub fn alias(self) -> &'static str {
        match self {
            Region::Beijing => "beijing",
            Region::Tianjin => "tianjin",
            Region::Hebei => "hebei",
        }
    }

    /// The administrative division code (GB/T 2260).
    pub fn code(self) -> &'static str {
        match self {
            Region::Beijing => "110000",
            Region::Tianjin => "120000",
            Region::Hebei => "130000",
        }
    }

    pub fn from_alias(alias: &str) -> Option<Region> {
        Region::ALL.into_iter().find(|r| r.alias() == alias)
    }

    pub fn from_code(code: &str) -> Option<Region> {
        Region::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl std::str::FromStr for Region {
    type Err = String;

    fn from_str(alias: &str) -> Result<Region, String> {
        Region::from_alias(alias).ok_or_else(|| {
            let known: Vec<&str> = Region::ALL.iter().map(|r| r.alias()).collect();
            format!(
                "unknown region alias {alias:?} (known: {})",
                known.join(", ")
            )
        })
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.alias())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_codes_round_trip() {
        for r in Region::ALL {
            assert_eq!(Region::from_alias(r.alias()), Some(r));
            assert_eq!(Region::from_code(r.code()), Some(r));
        }
        assert_eq!(Region::from_alias("shanghai"), None);
        assert_eq!(Region::from_code("310000"), None);
    }
}
