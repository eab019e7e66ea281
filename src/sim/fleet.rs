//! Who is in the simulated fleet: each vehicle's identity (VIN, plate, model, terminal and ECU
//! identifiers, entry permit) and the fleet-wide draw of which vehicles carry which fault or
//! roadside encounter.
//!
//! The fleet-wide draw is made once from the seed; everything else about a vehicle comes from
//! its own random stream, so one vehicle's details never shift another's.

use rand::rngs::SmallRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;

use crate::model::{Plate, RuleId, Vin};

/// The faults the simulator can inject. `RepeatOffender` is a consequence of three listings,
/// not a fault of its own, and `AlertRestriction` needs an alert, which the simulated fleet
/// does not publish.
pub const INJECTABLE: &[RuleId] = match RuleId::ALL.split_last() {
    Some((RuleId::AlertRestriction, rest)) => match rest.split_last() {
        Some((RuleId::RepeatOffender, evidence_rules)) => evidence_rules,
        _ => panic!("repeat_offender comes before alert_restriction"),
    },
    _ => panic!("alert_restriction closes the rule catalogue"),
};

/// Shares of the fleet with incidental (non-fault) behaviour: passing roadside checks,
/// passing remote-sensing passes, and terminal outages that are fully reissued later.
const PASSING_CHECK_SHARE: f64 = 0.04;
const PASSING_PASS_SHARE: f64 = 0.20;
const OUTAGE_SHARE_OF_CLEAN: f64 = 0.05;
/// Share of vehicles registered in Beijing (京); the rest are out-of-town.
const BEIJING_SHARE: f64 = 0.6;

/// What the fleet-wide draw gave one vehicle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Assignment {
    pub fault: Option<RuleId>,
    /// Stopped once at a checkpoint for a manual check that passes.
    pub passing_check: bool,
    /// Passes one remote-sensing station with clean readings.
    pub passing_pass: bool,
    /// Loses connectivity once while driving; everything is reissued after.
    pub outage: bool,
}

/// Deals faults and incidental encounters over `n` vehicles.
///
/// Fault counts are apportioned to the weights (largest remainder) rather than drawn one by one,
/// so a mix always shows up in the fleet in proportion and a kind with weight never vanishes
/// by bad luck. Incidental encounters go to clean vehicles only, so they can never blur a
/// vehicle's ground truth.
pub fn assign(
    n: usize,
    fault_fraction: f64,
    mix: &[(RuleId, u32)],
    rng: &mut SmallRng,
) -> Vec<Assignment> {
    let faulty = (fault_fraction.clamp(0.0, 1.0) * n as f64).round() as usize;
    let mut deck: Vec<Option<RuleId>> = apportion(faulty, mix)
        .into_iter()
        .flat_map(|(r, c)| std::iter::repeat_n(Some(r), c))
        .collect();
    deck.resize(n, None);
    deck.shuffle(rng);
    let mut fleet: Vec<Assignment> = deck
        .into_iter()
        .map(|fault| Assignment {
            fault,
            ..Assignment::default()
        })
        .collect();

    let clean: Vec<usize> = (0..n).filter(|&i| fleet[i].fault.is_none()).collect();
    let share =
        |fraction: f64, of: usize| ((fraction * of as f64).ceil() as usize).min(clean.len());
    for &i in clean.choose_multiple(rng, share(OUTAGE_SHARE_OF_CLEAN, clean.len())) {
        fleet[i].outage = true;
    }
    for &i in clean.choose_multiple(rng, share(PASSING_CHECK_SHARE, n)) {
        fleet[i].passing_check = true;
    }
    for &i in clean.choose_multiple(rng, share(PASSING_PASS_SHARE, n)) {
        fleet[i].passing_pass = true;
    }
    fleet
}

/// Largest-remainder apportionment of `total` over the weights; ties go to the earlier entry.
fn apportion(total: usize, mix: &[(RuleId, u32)]) -> Vec<(RuleId, usize)> {
    let sum: u64 = mix.iter().map(|&(_, w)| u64::from(w)).sum();
    if sum == 0 {
        return Vec::new();
    }
    let exact: Vec<f64> = mix
        .iter()
        .map(|&(_, w)| total as f64 * f64::from(w) / sum as f64)
        .collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..mix.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    let missing = total - counts.iter().sum::<usize>();
    for &i in order.iter().take(missing) {
        counts[i] += 1;
    }
    mix.iter().zip(counts).map(|(&(r, _), c)| (r, c)).collect()
}

/// A heavy-truck family: VIN manufacturer prefix, model name, engine calibration prefix.
/// All are 6x4 tractors over 12 t, vehicle category N3.
struct Make {
    wmi: &'static str,
    model: &'static str,
    engine: &'static str,
}

const MAKES: [Make; 6] = [
    Make {
        wmi: "LZZ",
        model: "Sinotruk HOWO TX 6x4 tractor",
        engine: "MC13H46E6",
    },
    Make {
        wmi: "LFW",
        model: "FAW Jiefang J6P 6x4 tractor",
        engine: "CA6DM3E6",
    },
    Make {
        wmi: "LGA",
        model: "Dongfeng Tianlong KL 6x4 tractor",
        engine: "DDI13E6",
    },
    Make {
        wmi: "LRD",
        model: "Foton Auman EST 6x4 tractor",
        engine: "ISG12E6",
    },
    Make {
        wmi: "LZG",
        model: "Shacman X3000 6x4 tractor",
        engine: "WP13H550E6",
    },
    Make {
        wmi: "LJ1",
        model: "JAC Gallop K7 6x4 tractor",
        engine: "YC6K13E6",
    },
];

/// Out-of-town provinces seen on Beijing roads, weighted towards the neighbours.
const OUT_OF_TOWN: [(char, u32); 7] = [
    ('冀', 40),
    ('津', 15),
    ('晋', 10),
    ('蒙', 10),
    ('鲁', 10),
    ('豫', 10),
    ('辽', 5),
];

/// Characters allowed in VINs and plate serials (no I, O, Q).
const ALNUM: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789";
const HEX: &[u8] = b"0123456789ABCDEF";

/// Everything that names one vehicle and its on-board devices.
#[derive(Debug, Clone)]
pub struct Identity {
    pub vin: Vin,
    pub plate: Plate,
    pub model: &'static str,
    /// Vehicle category (GB/T 15089): every simulated make is an N3 tractor.
    pub category: &'static str,
    pub iccid: String,
    pub calibration_id: String,
    pub cvn: String,
    /// What a reflashed ECU or a swapped engine would report (used only by tampering).
    pub other_calibration_id: String,
    pub other_cvn: String,
    pub other_vin: Vin,
    /// Beijing entry permit number; `None` for Beijing vehicles and for permit-less ones.
    pub permit: Option<String>,
}

impl Identity {
    /// `index` makes the serial parts unique in the fleet (a bijection for fleets under
    /// 100 000 vehicles); the rest is drawn. Only an out-of-town vehicle listed for
    /// `BlacklistedEntry` goes without a permit: every other out-of-town truck in Beijing holds
    /// one, so only the injected vehicles can commit that violation.
    pub fn draw(index: usize, fault: Option<RuleId>, rng: &mut SmallRng) -> Identity {
        let make = MAKES.choose(rng).expect("makes are listed");
        let serial = (index as u64 * 7_919 + 13_579) % 1_000_000;
        let vin = mint_vin(make.wmi, serial, rng);
        let other_vin = mint_vin(make.wmi, (serial + 500_009) % 1_000_000, rng);

        let out_of_town =
            fault == Some(RuleId::BlacklistedEntry) || !rng.random_bool(BEIJING_SHARE);
        let province = if out_of_town {
            OUT_OF_TOWN
                .choose_weighted(rng, |&(_, w)| w)
                .expect("weights are positive")
                .0
        } else {
            '京'
        };
        let plate = mint_plate(province, index, rng);
        let permit = (out_of_town && fault != Some(RuleId::BlacklistedEntry)).then(|| {
            format!(
                "JJZ{}{:07}",
                province_code(province),
                rng.random_range(0..10_000_000)
            )
        });

        let calibration_id = padded(&format!("{}{}", make.engine, hex(rng, 4)));
        let other_calibration_id = padded(&format!("{}{}", make.engine, hex(rng, 4)));
        let cvn = padded(&hex(rng, 8));
        let other_cvn = padded(&hex(rng, 8));
        let iccid = format!("898604{:014}", rng.random_range(0..100_000_000_000_000u64));
        Identity {
            vin,
            plate,
            model: make.model,
            category: "N3",
            iccid,
            calibration_id,
            cvn,
            other_calibration_id,
            other_cvn,
            other_vin,
            permit,
        }
    }
}

/// WMI + 5 drawn descriptor characters + check digit + model year + plant + 6-digit serial.
fn mint_vin(wmi: &str, serial: u64, rng: &mut SmallRng) -> Vin {
    let mut bytes = [b'0'; 17];
    bytes[..3].copy_from_slice(wmi.as_bytes());
    for b in &mut bytes[3..8] {
        *b = *ALNUM.choose(rng).expect("non-empty");
    }
    bytes[9] = *b"MNPRS".choose(rng).expect("non-empty"); // model years 2021-2025
    bytes[10] = *ALNUM.choose(rng).expect("non-empty");
    bytes[11..].copy_from_slice(format!("{serial:06}").as_bytes());
    Vin::with_check_digit(bytes).expect("VIN drawn from allowed characters")
}

/// Province, authority letter, then five serial characters unique in the fleet: five digits
/// from the index, the first optionally swapped for a letter through a fixed bijection.
pub fn mint_plate(province: char, index: usize, rng: &mut SmallRng) -> Plate {
    const AUTHORITY: &[u8] = b"ABCDEFGHJKLMNPQ";
    const FIRST_LETTER: &[u8; 10] = b"ABCDEFGHJK";
    let authority = *AUTHORITY.choose(rng).expect("non-empty") as char;
    let mut serial = format!("{:05}", (index as u64 * 7_919 + 2_468) % 100_000).into_bytes();
    if rng.random_bool(0.3) {
        serial[0] = FIRST_LETTER[usize::from(serial[0] - b'0')];
    }
    let text = format!(
        "{province}{authority}{}",
        String::from_utf8(serial).expect("ASCII")
    );
    Plate::parse(&text).expect("minted plates are well-formed")
}

fn province_code(province: char) -> &'static str {
    match province {
        '冀' => "HE",
        '津' => "TJ",
        '晋' => "SX",
        '蒙' => "NM",
        '鲁' => "SD",
        '豫' => "HA",
        '辽' => "LN",
        _ => "XX",
    }
}

fn hex(rng: &mut SmallRng, digits: usize) -> String {
    (0..digits)
        .map(|_| *HEX.choose(rng).expect("non-empty") as char)
        .collect()
}

/// Calibration IDs and CVNs are 18 characters on the wire, right-padded with "0".
fn padded(text: &str) -> String {
    format!("{text:0<18}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn apportionment_is_exact_and_proportional() {
        let mix: Vec<(RuleId, u32)> = INJECTABLE.iter().map(|&r| (r, 1)).collect();
        let counts = apportion(60, &mix);
        assert_eq!(counts.iter().map(|&(_, c)| c).sum::<usize>(), 60);
        assert!(counts.iter().all(|&(_, c)| c == 6 || c == 7), "{counts:?}");
        let skewed = apportion(10, &[(RuleId::DataGap, 3), (RuleId::NoxOverLimit, 1)]);
        assert_eq!(
            skewed,
            vec![(RuleId::DataGap, 8), (RuleId::NoxOverLimit, 2)]
        );
        assert!(apportion(10, &[(RuleId::DataGap, 0)]).is_empty());
    }

    #[test]
    fn identities_are_valid_and_unique() {
        let mut rng = SmallRng::seed_from_u64(7);
        let ids: Vec<Identity> = (0..2_000)
            .map(|i| Identity::draw(i, None, &mut rng))
            .collect();
        let vins: std::collections::BTreeSet<_> = ids.iter().map(|id| id.vin).collect();
        let plates: std::collections::BTreeSet<_> =
            ids.iter().map(|id| id.plate.to_string()).collect();
        assert_eq!((vins.len(), plates.len()), (2_000, 2_000));
        for id in &ids {
            assert!(
                id.vin.is_valid() && id.other_vin.is_valid() && id.vin.as_str().starts_with('L')
            );
            assert_eq!(id.permit.is_some(), !id.plate.is_beijing());
            assert_eq!((id.calibration_id.len(), id.cvn.len()), (18, 18));
            assert_eq!(id.iccid.len(), 20);
        }
        let beijing = ids.iter().filter(|id| id.plate.is_beijing()).count();
        assert!(
            (1_080..1_320).contains(&beijing),
            "{beijing} of 2000 in Beijing"
        );
    }
}
