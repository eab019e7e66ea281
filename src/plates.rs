//! The global plate table: which vehicle held a plate (text and colour) at a given time, from
//! the registrations on `tw.registry`. Every instance holds all of it, like a Kafka Streams
//! GlobalKTable, because plate-only evidence arrives on whatever partition its plate hashes to.
//!
//! Pure data, no I/O. A registration says "this VIN carries this plate since `registered_from`";
//! a vehicle's registrations ordered by that time are its plate history (a *tenure* each), and
//! a plate's tenures are its owners. Evidence at time t resolves to the plate's latest tenure
//! that began at or before t, unless that vehicle had moved to another plate (or was
//! deregistered) by t: then the plate is unknown at t until its next owner registers. The same
//! registrations in any order give the same answers, so restoring the topic and reading it live
//! agree. Each plate and each vehicle keeps its newest `HISTORY` tenures: older evidence stays
//! unresolved rather than being pinned on the wrong vehicle.
//!
//! Memory is budgeted (≤ 64 B per plate, BENCHMARKS.md): tenures live in one arena and the two
//! indexes hold arena positions only (hash tables of `u32`).

use hashbrown::HashTable;
use std::hash::BuildHasher;

use crate::model::{Plate, PlateColour, Secs, Vin};

/// Tenures kept per plate and per vehicle.
pub const HISTORY: usize = 4;

const NONE: u32 = u32::MAX;

/// A vehicle carrying a plate since `from`.
#[derive(Debug, Clone, Copy)]
struct Tenure {
    vin: Vin,
    /// `None`: deregistered since `from` (a tombstone on `tw.registry`).
    plate: Option<(Plate, PlateColour)>,
    from: Secs,
    /// The next older tenure of the same plate, and of the same vehicle (`NONE` at the end).
    older_of_plate: u32,
    older_of_vin: u32,
}

/// What a plate read at a time resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Vehicle(Vin),
    /// No vehicle is known to have carried the plate then.
    Unknown,
    /// Two vehicles (or more: the two first VINs) are registered with the plate from the same
    /// time.
    Ambiguous(Vin, Vin),
}

#[derive(Default)]
pub struct PlateTable {
    tenures: Vec<Tenure>,
    /// Arena slots of forgotten tenures, reused first.
    free: Vec<u32>,
    /// Plate → its newest tenure.
    by_plate: HashTable<u32>,
    /// VIN → its newest tenure.
    by_vin: HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    /// Bumped by every change: holders of unresolved evidence retry when it moves.
    generation: u64,
}

impl std::fmt::Debug for PlateTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlateTable")
            .field("plates", &self.plates())
            .field("vehicles", &self.vehicles())
            .finish()
    }
}

impl PlateTable {
    pub fn new() -> PlateTable {
        PlateTable::default()
    }

    /// Plates known (text and colour).
    pub fn plates(&self) -> usize {
        self.by_plate.len()
    }

    /// Vehicles with a registration.
    pub fn vehicles(&self) -> usize {
        self.by_vin.len()
    }

    /// Changes so far; unchanged means every answer is unchanged.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Heap bytes held (arena and indexes, by capacity).
    pub fn heap_bytes(&self) -> usize {
        self.tenures.capacity() * std::mem::size_of::<Tenure>()
            + self.free.capacity() * 4
            + (self.by_plate.capacity() + self.by_vin.capacity()) * (4 + 1)
    }

    /// Reserves room for `n` more registrations (a restore knows how many are coming).
    pub fn reserve(&mut self, n: usize) {
        self.tenures.reserve(n);
        let hasher = &self.hasher;
        let tenures = &self.tenures;
        self.by_plate.reserve(n, |&i| {
            let key = tenures[i as usize]
                .plate
                .expect("indexed tenures carry a plate");
            hasher.hash_one(key)
        });
        self.by_vin
            .reserve(n, |&i| hasher.hash_one(tenures[i as usize].vin));
    }

    /// `vin` carries `plate` since `from` (0: since ever). Returns whether anything changed.
    pub fn register(&mut self, vin: Vin, plate: Plate, colour: PlateColour, from: Secs) -> bool {
        self.insert(vin, Some((plate, colour)), from)
    }

    /// `vin` carries no plate since `at`.
    pub fn deregister(&mut self, vin: Vin, at: Secs) -> bool {
        if self.vin_head(&vin) == NONE {
            return false;
        }
        self.insert(vin, None, at)
    }

    /// The vehicle that carried the plate at `at`.
    pub fn resolve(&self, plate: Plate, colour: PlateColour, at: Secs) -> Resolution {
        let key = (plate, colour);
        let mut i = self.plate_head(key);
        while i != NONE && self.tenure(i).from > at {
            i = self.tenure(i).older_of_plate;
        }
        if i == NONE {
            return Resolution::Unknown;
        }
        let found = *self.tenure(i);
        // Every vehicle registered with the plate from that same time.
        let mut claimants = vec![found.vin];
        let mut j = found.older_of_plate;
        while j != NONE && self.tenure(j).from == found.from {
            claimants.push(self.tenure(j).vin);
            j = self.tenure(j).older_of_plate;
        }
        claimants.sort();
        claimants.dedup();
        if let [a, b, ..] = claimants[..] {
            return Resolution::Ambiguous(a, b);
        }
        // The vehicle's next tenure after this one: begun by `at`, the plate was left.
        let mut next = None;
        let mut j = self.vin_head(&found.vin);
        while j != NONE && j != i {
            next = Some(self.tenure(j).from);
            j = self.tenure(j).older_of_vin;
        }
        match next {
            Some(left) if left <= at => Resolution::Unknown,
            _ => Resolution::Vehicle(found.vin),
        }
    }

    /// The plate `vin` carried at `at`, by its registrations.
    pub fn carried(&self, vin: &Vin, at: Secs) -> Option<(Plate, PlateColour)> {
        let mut i = self.vin_head(vin);
        while i != NONE {
            let t = self.tenure(i);
            if t.from <= at {
                return t.plate;
            }
            i = t.older_of_vin;
        }
        None
    }

    fn tenure(&self, i: u32) -> &Tenure {
        &self.tenures[i as usize]
    }

    fn plate_head(&self, key: (Plate, PlateColour)) -> u32 {
        let tenures = &self.tenures;
        self.by_plate
            .find(self.hasher.hash_one(key), |&i| {
                tenures[i as usize].plate == Some(key)
            })
            .copied()
            .unwrap_or(NONE)
    }

    fn vin_head(&self, vin: &Vin) -> u32 {
        let tenures = &self.tenures;
        self.by_vin
            .find(self.hasher.hash_one(vin), |&i| {
                tenures[i as usize].vin == *vin
            })
            .copied()
            .unwrap_or(NONE)
    }

    fn set_plate_head(&mut self, key: (Plate, PlateColour), head: u32) {
        let hash = self.hasher.hash_one(key);
        let tenures = &self.tenures;
        let hasher = &self.hasher;
        let entry = self.by_plate.entry(
            hash,
            |&i| tenures[i as usize].plate == Some(key),
            |&i| hasher.hash_one(tenures[i as usize].plate.expect("indexed")),
        );
        match (entry, head) {
            (hashbrown::hash_table::Entry::Occupied(e), NONE) => {
                e.remove();
            }
            (hashbrown::hash_table::Entry::Occupied(mut e), head) => *e.get_mut() = head,
            (hashbrown::hash_table::Entry::Vacant(_), NONE) => {}
            (hashbrown::hash_table::Entry::Vacant(e), head) => {
                e.insert(head);
            }
        }
    }

    fn set_vin_head(&mut self, vin: Vin, head: u32) {
        let hash = self.hasher.hash_one(vin);
        let tenures = &self.tenures;
        let hasher = &self.hasher;
        let entry = self.by_vin.entry(
            hash,
            |&i| tenures[i as usize].vin == vin,
            |&i| hasher.hash_one(tenures[i as usize].vin),
        );
        match (entry, head) {
            (hashbrown::hash_table::Entry::Occupied(e), NONE) => {
                e.remove();
            }
            (hashbrown::hash_table::Entry::Occupied(mut e), head) => *e.get_mut() = head,
            (hashbrown::hash_table::Entry::Vacant(_), NONE) => {}
            (hashbrown::hash_table::Entry::Vacant(e), head) => {
                e.insert(head);
            }
        }
    }

    /// The vehicle's tenures, newest first.
    fn vin_chain(&self, vin: &Vin) -> Vec<u32> {
        let mut chain = Vec::with_capacity(HISTORY + 1);
        let mut i = self.vin_head(vin);
        while i != NONE {
            chain.push(i);
            i = self.tenure(i).older_of_vin;
        }
        chain
    }

    fn plate_chain(&self, key: (Plate, PlateColour)) -> Vec<u32> {
        let mut chain = Vec::with_capacity(HISTORY + 1);
        let mut i = self.plate_head(key);
        while i != NONE {
            chain.push(i);
            i = self.tenure(i).older_of_plate;
        }
        chain
    }

    fn insert(&mut self, vin: Vin, plate: Option<(Plate, PlateColour)>, from: Secs) -> bool {
        let chain = self.vin_chain(&vin);
        // Where the new tenure goes among the vehicle's: after every newer one.
        let at = chain
            .iter()
            .position(|&i| self.tenure(i).from <= from)
            .unwrap_or(chain.len());
        if let Some(&same) = chain.get(at) {
            let t = *self.tenure(same);
            if t.from == from {
                if t.plate == plate {
                    return false;
                }
                // A later record for the same start corrects the earlier one.
                self.remove(same);
                return self.insert(vin, plate, from);
            }
        }
        // A registration repeating the plate the vehicle already carries is kept all the same:
        // one arriving later may put another plate between them.
        let slot = self.allocate(Tenure {
            vin,
            plate,
            from,
            older_of_plate: NONE,
            older_of_vin: NONE,
        });
        self.link(&chain, at, slot, |t| &mut t.older_of_vin);
        if at == 0 {
            self.set_vin_head(vin, slot);
        }
        if let Some(key) = plate {
            let chain = self.plate_chain(key);
            let at = chain
                .iter()
                .position(|&i| self.tenure(i).from <= from)
                .unwrap_or(chain.len());
            self.link(&chain, at, slot, |t| &mut t.older_of_plate);
            if at == 0 {
                self.set_plate_head(key, slot);
            }
            if chain.len() >= HISTORY {
                let oldest = *self.plate_chain(key).last().expect("non-empty");
                self.remove(oldest);
            }
        }
        if chain.len() >= HISTORY {
            if let Some(&oldest) = self.vin_chain(&vin).last() {
                self.remove(oldest);
            }
        }
        self.generation += 1;
        true
    }

    /// Puts `slot` at position `at` of `chain` (newest first) through the link `older`.
    fn link(&mut self, chain: &[u32], at: usize, slot: u32, older: fn(&mut Tenure) -> &mut u32) {
        *older(&mut self.tenures[slot as usize]) = chain.get(at).copied().unwrap_or(NONE);
        if at > 0 {
            *older(&mut self.tenures[chain[at - 1] as usize]) = slot;
        }
    }

    fn allocate(&mut self, tenure: Tenure) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.tenures[i as usize] = tenure;
                i
            }
            None => {
                let i = u32::try_from(self.tenures.len()).expect("fewer than 4 billion tenures");
                self.tenures.push(tenure);
                i
            }
        }
    }

    /// Unlinks a tenure from its vehicle's and its plate's chains and frees its slot.
    fn remove(&mut self, slot: u32) {
        let t = *self.tenure(slot);
        let chain = self.vin_chain(&t.vin);
        let at = chain.iter().position(|&i| i == slot).expect("linked");
        if at == 0 {
            self.set_vin_head(t.vin, t.older_of_vin);
        } else {
            self.tenures[chain[at - 1] as usize].older_of_vin = t.older_of_vin;
        }
        if let Some(key) = t.plate {
            let chain = self.plate_chain(key);
            let at = chain.iter().position(|&i| i == slot).expect("linked");
            if at == 0 {
                self.set_plate_head(key, t.older_of_plate);
            } else {
                self.tenures[chain[at - 1] as usize].older_of_plate = t.older_of_plate;
            }
        }
        self.free.push(slot);
        self.generation += 1;
    }
}

/// Entry permits issued to plates, as every instance reads them from `tw.permits`: whether a
/// plate held a valid permit at a time. The pipeline withholds an entry case for a vehicle whose
/// plate had one, so a permit still on its way to the vehicle's own state (through
/// `tw.evidence.by-vin`, possibly from another instance) never lets a wrong case out.
#[derive(Debug, Default)]
pub struct PlatePermits {
    /// Plate → permits by validity, at most `PERMITS` each.
    permits: std::collections::HashMap<(Plate, PlateColour), Vec<PlatePermit>>,
}

/// A permit issued to a plate: valid from, valid until, revoked.
type PlatePermit = (Secs, Secs, bool);

/// Permits kept per plate; beyond it the one ending first gives way.
const PERMITS: usize = 8;

impl PlatePermits {
    /// Records a permit (a revocation comes as the same validity, revoked).
    pub fn insert(
        &mut self,
        plate: Plate,
        colour: PlateColour,
        from: Secs,
        until: Secs,
        revoked: bool,
    ) {
        let held = self.permits.entry((plate, colour)).or_default();
        if let Some(p) = held.iter_mut().find(|p| p.0 == from && p.1 == until) {
            p.2 |= revoked;
            return;
        }
        held.push((from, until, revoked));
        if held.len() > PERMITS {
            let first = (0..held.len())
                .min_by_key(|&i| held[i].1)
                .expect("not empty");
            held.remove(first);
        }
    }

    /// Whether the plate held a permit, not revoked, valid at `at`.
    pub fn valid_at(&self, plate: Plate, colour: PlateColour, at: Secs) -> bool {
        self.permits.get(&(plate, colour)).is_some_and(|held| {
            held.iter()
                .any(|&(from, until, revoked)| !revoked && from <= at && at < until)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "LGDCHA1G8MA127733";
    const B: &str = "LG6ZDANH7EY208182";

    fn vin(text: &str) -> Vin {
        Vin::parse(text).unwrap()
    }

    fn plate(text: &str) -> Plate {
        Plate::parse(text).unwrap()
    }

    const Y: PlateColour = PlateColour::Yellow;

    #[test]
    fn resolves_by_plate_and_colour_at_the_evidence_time() {
        let mut t = PlateTable::new();
        assert!(t.register(vin(A), plate("冀F8K2M1"), Y, Secs(100)));
        assert!(
            !t.register(vin(A), plate("冀F8K2M1"), Y, Secs(100)),
            "idempotent"
        );
        let p = plate("冀F8K2M1");
        assert_eq!(t.resolve(p, Y, Secs(100)), Resolution::Vehicle(vin(A)));
        assert_eq!(t.resolve(p, Y, Secs(99)), Resolution::Unknown, "before");
        assert_eq!(
            t.resolve(p, PlateColour::Blue, Secs(200)),
            Resolution::Unknown,
            "the text alone is not the plate"
        );
        assert_eq!((t.plates(), t.vehicles()), (1, 1));
    }

    #[test]
    fn a_transferred_plate_resolves_to_each_owner_in_their_time_in_any_order() {
        let p = plate("冀F8K2M1");
        let steps: [(&str, Option<&str>, u32); 3] = [
            (A, Some("冀F8K2M1"), 100),
            (A, Some("冀F00001"), 500),
            (B, Some("冀F8K2M1"), 600),
        ];
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
            let mut t = PlateTable::new();
            for i in order {
                let (v, plate_text, from) = steps[i];
                t.register(vin(v), plate(plate_text.unwrap()), Y, Secs(from));
            }
            assert_eq!(
                t.resolve(p, Y, Secs(300)),
                Resolution::Vehicle(vin(A)),
                "{order:?}"
            );
            // A had left the plate at 500 and B took it at 600: nobody carried it between.
            assert_eq!(t.resolve(p, Y, Secs(550)), Resolution::Unknown, "{order:?}");
            assert_eq!(
                t.resolve(p, Y, Secs(700)),
                Resolution::Vehicle(vin(B)),
                "{order:?}"
            );
            assert_eq!(
                t.resolve(plate("冀F00001"), Y, Secs(700)),
                Resolution::Vehicle(vin(A))
            );
        }
    }

    #[test]
    fn a_later_owner_takes_the_plate_even_before_the_old_one_moves() {
        let mut t = PlateTable::new();
        let p = plate("津A12345");
        t.register(vin(A), p, Y, Secs(0));
        t.register(vin(B), p, Y, Secs(1000));
        assert_eq!(t.resolve(p, Y, Secs(10)), Resolution::Vehicle(vin(A)));
        assert_eq!(t.resolve(p, Y, Secs(1000)), Resolution::Vehicle(vin(B)));
    }

    #[test]
    fn two_owners_from_the_same_time_are_ambiguous() {
        let mut t = PlateTable::new();
        let p = plate("津A12345");
        t.register(vin(A), p, Y, Secs(0));
        t.register(vin(B), p, Y, Secs(0));
        let both = Resolution::Ambiguous(vin(B).min(vin(A)), vin(A).max(vin(B)));
        assert_eq!(t.resolve(p, Y, Secs(10)), both);
    }

    #[test]
    fn a_correction_for_the_same_start_replaces_the_plate() {
        let mut t = PlateTable::new();
        t.register(vin(A), plate("津A12345"), Y, Secs(50));
        t.register(vin(A), plate("津A12346"), Y, Secs(50));
        assert_eq!(
            t.resolve(plate("津A12345"), Y, Secs(60)),
            Resolution::Unknown
        );
        assert_eq!(
            t.resolve(plate("津A12346"), Y, Secs(60)),
            Resolution::Vehicle(vin(A))
        );
        assert_eq!(t.plates(), 1);
    }

    #[test]
    fn an_earlier_start_for_the_same_plate_extends_the_tenure() {
        let mut t = PlateTable::new();
        let p = plate("津A12345");
        t.register(vin(A), p, Y, Secs(50));
        assert!(t.register(vin(A), p, Y, Secs(20)));
        assert_eq!(t.resolve(p, Y, Secs(30)), Resolution::Vehicle(vin(A)));
        assert_eq!(t.resolve(p, Y, Secs(60)), Resolution::Vehicle(vin(A)));
    }

    /// The shrunk case proptest found: a repeated registration of a plate the vehicle carried
    /// is kept, because another one arriving later can fall between them.
    #[test]
    fn a_repeated_plate_is_kept_for_what_may_come_between() {
        let (p, q) = (plate("鲁B99999"), plate("冀F8K2M1"));
        for order in [[0, 1, 2], [0, 2, 1], [2, 1, 0]] {
            let regs = [(p, 0), (q, 100), (p, 200)];
            let mut t = PlateTable::new();
            for i in order {
                t.register(vin(A), regs[i].0, Y, Secs(regs[i].1));
            }
            assert_eq!(
                t.resolve(q, Y, Secs(150)),
                Resolution::Vehicle(vin(A)),
                "{order:?}"
            );
            assert_eq!(t.resolve(q, Y, Secs(200)), Resolution::Unknown, "{order:?}");
            assert_eq!(
                t.resolve(p, Y, Secs(250)),
                Resolution::Vehicle(vin(A)),
                "{order:?}"
            );
        }
    }

    #[test]
    fn deregistration_ends_the_tenure() {
        let mut t = PlateTable::new();
        let p = plate("津A12345");
        assert!(!t.deregister(vin(A), Secs(10)), "unknown vehicle");
        t.register(vin(A), p, Y, Secs(0));
        assert!(t.deregister(vin(A), Secs(100)));
        assert_eq!(t.resolve(p, Y, Secs(99)), Resolution::Vehicle(vin(A)));
        assert_eq!(t.resolve(p, Y, Secs(100)), Resolution::Unknown);
    }

    #[test]
    fn history_is_bounded_and_old_evidence_stays_unknown() {
        let mut t = PlateTable::new();
        for i in 0..10u32 {
            let text = format!("冀F0000{i}");
            t.register(vin(A), plate(&text), Y, Secs(100 * (i + 1)));
        }
        assert_eq!(t.vin_chain(&vin(A)).len(), HISTORY);
        assert_eq!(t.plates(), HISTORY);
        assert_eq!(
            t.resolve(plate("冀F00009"), Y, Secs(5000)),
            Resolution::Vehicle(vin(A))
        );
        assert_eq!(
            t.resolve(plate("冀F00001"), Y, Secs(250)),
            Resolution::Unknown
        );
        // Slots are reused: the arena holds the live tenures only.
        assert_eq!(t.tenures.len() - t.free.len(), HISTORY);
        let mut owners = PlateTable::new();
        let vins = [
            "LGDCHA1G8MA127733",
            "LG6ZDANH7EY208182",
            "LFWSRXRJ1J1F00001",
            "LFWSRXRJ3J1F00002",
            "LFWSRXRJ5J1F00003",
            "LFWSRXRJ7J1F00004",
        ];
        let p = plate("冀F8K2M1");
        for (i, v) in vins.iter().enumerate() {
            owners.register(vin(v), p, Y, Secs(100 * (i as u32 + 1)));
        }
        assert_eq!(owners.plate_chain((p, Y)).len(), HISTORY);
        assert_eq!(owners.resolve(p, Y, Secs(150)), Resolution::Unknown);
        assert_eq!(
            owners.resolve(p, Y, Secs(650)),
            Resolution::Vehicle(vin(vins[5]))
        );
    }

    proptest::proptest! {
        /// Registrations in any order give the same answers (within the history bound, and
        /// with one registration per vehicle and start: a second one for the same start is a
        /// correction, which only the later record can make).
        #[test]
        fn answers_do_not_depend_on_the_order_registrations_arrive_in(
            regs in proptest::collection::btree_map((0usize..3, 0u32..6), 0usize..3, 0..8),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let vins = [A, B, "LFWSRXRJ5J1F00001"].map(vin);
            let plates = ["冀F8K2M1", "津A12345", "鲁B99999"].map(plate);
            let regs: Vec<(Vin, Plate, Secs)> = regs
                .into_iter()
                .map(|((v, from), p)| (vins[v], plates[p], Secs(from * 100)))
                .collect();
            let per_plate = |p: Plate| regs.iter().filter(|r| r.1 == p).count();
            proptest::prop_assume!(plates.iter().all(|&p| per_plate(p) <= 3));
            let mut shuffled = regs.clone();
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let build = |order: &[(Vin, Plate, Secs)]| {
                let mut t = PlateTable::new();
                for &(v, p, from) in order {
                    t.register(v, p, Y, from);
                }
                t
            };
            let (a, b) = (build(&regs), build(&shuffled));
            for p in plates {
                for at in (0..700).step_by(50) {
                    proptest::prop_assert_eq!(
                        a.resolve(p, Y, Secs(at)),
                        b.resolve(p, Y, Secs(at)),
                        "{} at {}", p, at
                    );
                }
            }
        }
    }

    #[test]
    fn plate_permits_by_validity_and_revocation() {
        let mut permits = PlatePermits::default();
        let p = plate("津A12345");
        permits.insert(p, Y, Secs(100), Secs(200), false);
        assert!(permits.valid_at(p, Y, Secs(150)));
        assert!(!permits.valid_at(p, Y, Secs(200)));
        assert!(!permits.valid_at(p, PlateColour::Blue, Secs(150)));
        permits.insert(p, Y, Secs(100), Secs(200), true);
        assert!(!permits.valid_at(p, Y, Secs(150)), "revoked");
        let mut t = PlateTable::new();
        t.register(vin(A), p, Y, Secs(50));
        assert_eq!(t.carried(&vin(A), Secs(60)), Some((p, Y)));
        assert_eq!(t.carried(&vin(A), Secs(40)), None);
    }

    #[test]
    fn a_tenure_is_forty_bytes() {
        assert_eq!(std::mem::size_of::<Tenure>(), 40);
    }
}
