//! `repeat_offender`: a third listing within 365 days marks the listing and its cases
//! `priority = high` and raises a `repeat_offender` case. The logic lives with the blacklist
//! lifecycle (`engine::listing`); this file holds its parameters.

use serde::{Deserialize, Serialize};

use super::{Invalid, Span};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub listings: u32,
    pub within: Span,
    pub fine_yuan: u32,
}

impl Params {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if !(2..=3).contains(&self.listings) {
            return Err(Invalid {
                key: "repeat_offender.listings",
                message: "must be 2 or 3 (state keeps the two previous listings)".into(),
            });
        }
        Ok(())
    }
}
