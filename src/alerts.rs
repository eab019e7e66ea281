//! Heavy-pollution alerts as a global table (`tw.alerts`, compacted, keyed by alert id), and
//! the registration profiles their restrictions go by (from `tw.registry`). Both are read whole
//! by every instance, like the plate table: fed in record order offline, by their readers live.

use std::collections::HashMap;

use crate::model::{Alert, Profile, Vin};

/// The alerts known, in force or not, by id.
#[derive(Debug, Default)]
pub struct AlertTable {
    /// Sorted by id, so that the engine meets them in one order everywhere.
    alerts: Vec<Alert>,
}

impl AlertTable {
    /// A new alert, or a new version of one (the latest record per id holds).
    pub fn apply(&mut self, alert: Alert) {
        match self.alerts.binary_search_by(|a| a.id.cmp(&alert.id)) {
            Ok(i) => self.alerts[i] = alert,
            Err(i) => self.alerts.insert(i, alert),
        }
    }

    /// An alert's tombstone: it is gone, for evidence of any time.
    pub fn withdraw(&mut self, id: &str) {
        self.alerts.retain(|a| a.id != id);
    }

    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }
}

/// Each vehicle's latest registration profile.
#[derive(Debug, Default)]
pub struct Profiles {
    by_vin: HashMap<Vin, Profile>,
}

impl Profiles {
    pub fn register(&mut self, vin: Vin, profile: Profile) {
        self.by_vin.insert(vin, profile);
    }

    pub fn get(&self, vin: &Vin) -> Option<&Profile> {
        self.by_vin.get(vin)
    }
}
