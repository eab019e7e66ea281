//! Heavy-pollution alerts (action plan items 30 and 33) and the registration facts their
//! restrictions go by. What is restricted, where, when and who is exempt change per plan and
//! year: they are data carried by the alert, never code.
//!
//! Pure data. No I/O.

use std::sync::Arc;

use super::{Boundary, EventTime, Fuel, RecordRef, Vin};

/// Beijing's alert levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertLevel {
    Blue,
    Yellow,
    Orange,
    Red,
}

impl AlertLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertLevel::Blue => "blue",
            AlertLevel::Yellow => "yellow",
            AlertLevel::Orange => "orange",
            AlertLevel::Red => "red",
        }
    }
}

/// An alert in force from `from` until `until` (exclusive), and whom it keeps off the roads.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: String,
    pub level: AlertLevel,
    /// Where the restrictions hold; `None`: the Beijing boundary in force.
    pub area: Option<Arc<Boundary>>,
    pub from: EventTime,
    pub until: EventTime,
    /// Restricted: a vehicle registered with one of these emission stages (normalised), ...
    pub stages: Vec<String>,
    /// ... one of these fuels (empty: any) ...
    pub fuels: Vec<Fuel>,
    /// ... and one of these categories (normalised; empty: any).
    pub categories: Vec<String>,
    /// Exempt: new-energy vehicles (electric, hydrogen), ...
    pub exempt_new_energy: bool,
    /// ... vehicles registered in these categories (emergency services, as the registry names
    /// them), ...
    pub exempt_categories: Vec<String>,
    /// ... and these vehicles, named by permit.
    pub exempt_vins: Vec<Vin>,
    /// The alert's record.
    pub record: RecordRef,
}

/// What the registry says of a vehicle that restrictions go by.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    /// Normalised (`normalise`), e.g. "chinav".
    pub stage: String,
    pub fuel: Option<Fuel>,
    /// Normalised, e.g. "n3".
    pub category: String,
}

/// Lower case without spaces: "China V", "CHINA V" and "china  v" are one stage.
pub fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

impl Alert {
    pub fn in_force(&self, t: EventTime) -> bool {
        self.from <= t && t < self.until
    }

    /// Whether the alert keeps this vehicle off the roads in its area.
    pub fn restricts(&self, vin: &Vin, p: &Profile) -> bool {
        let new_energy = matches!(p.fuel, Some(Fuel::Electric | Fuel::Hydrogen));
        let exempt = self.exempt_vins.contains(vin)
            || self.exempt_categories.contains(&p.category)
            || (self.exempt_new_energy && new_energy);
        !exempt
            && self.stages.contains(&p.stage)
            && (self.fuels.is_empty() || p.fuel.is_some_and(|f| self.fuels.contains(&f)))
            && (self.categories.is_empty() || self.categories.contains(&p.category))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        Alert {
            id: "2026-orange-1".into(),
            level: AlertLevel::Orange,
            area: None,
            from: EventTime::from_unix_secs(1_000),
            until: EventTime::from_unix_secs(2_000),
            stages: ["China III", "China IV", "China V"].map(normalise).to_vec(),
            fuels: vec![Fuel::Diesel],
            categories: vec![],
            exempt_new_energy: true,
            exempt_categories: vec![normalise("ambulance")],
            exempt_vins: vec![Vin::parse("LG6ZDANH7EY208182").unwrap()],
            record: RecordRef {
                topic: "tw.alerts".into(),
                partition: 0,
                offset: 0,
            },
        }
    }

    #[test]
    fn restrictions_and_exemptions_come_from_the_alert() {
        let a = alert();
        let vin = Vin::parse("LGDCHA1G8MA127733").unwrap();
        let diesel_v = Profile {
            stage: normalise("China V"),
            fuel: Some(Fuel::Diesel),
            category: normalise("N3"),
        };
        assert!(a.restricts(&vin, &diesel_v));
        let vi = Profile {
            stage: normalise("China VI"),
            ..diesel_v.clone()
        };
        assert!(!a.restricts(&vin, &vi), "stage not restricted");
        let gas = Profile {
            fuel: Some(Fuel::NaturalGas),
            ..diesel_v.clone()
        };
        assert!(!a.restricts(&vin, &gas), "fuel not restricted");
        let ambulance = Profile {
            category: normalise("Ambulance"),
            ..diesel_v.clone()
        };
        assert!(!a.restricts(&vin, &ambulance), "exempt category");
        let permitted = Vin::parse("LG6ZDANH7EY208182").unwrap();
        assert!(!a.restricts(&permitted, &diesel_v), "named by permit");
        assert!(a.in_force(EventTime::from_unix_secs(1_000)));
        assert!(
            !a.in_force(EventTime::from_unix_secs(2_000)),
            "until is exclusive"
        );
    }
}
