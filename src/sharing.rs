//! Neighbouring provinces' listings (Beijing–Tianjin–Hebei sharing, action plan item 32), held
//! as a global table: every instance reads every neighbour's shared topic whole, because their
//! partitions need not match ours. Fed in record order offline; live, by its own readers.
//!
//! Per vehicle and neighbour, the listings by their start, so that evidence is judged by the
//! listing in force at its own time: a delisting closes the listing it names, and a delisting
//! whose listing was compacted away still records both ends.

use std::collections::HashMap;

use crate::model::{NeighbourListing, Region, Vin};

/// Listings kept per vehicle and neighbour: enough for a sighting days old to find the one in
/// force at its time.
const KEPT: usize = 4;

#[derive(Debug, Default)]
pub struct NeighbourTable {
    by_vin: HashMap<Vin, Vec<NeighbourListing>>,
    records: u64,
}

impl NeighbourTable {
    /// A listing or delisting, as its neighbour shared it. A record for a listing already held
    /// replaces it (the newer record knows more: its cases, its end), unless it says nothing
    /// new: MirrorMaker 2 delivers at least once, and the first record stays the one cited.
    /// A neighbour has one current listing per vehicle: a record of it (its start may move
    /// back when late evidence arrives, or a delisting may name the moved start) supersedes
    /// the region's other open listings, so none is left open after its delisting.
    pub fn apply(&mut self, vin: Vin, listing: NeighbourListing) {
        self.records += 1;
        let listings = self.by_vin.entry(vin).or_default();
        listings.retain(|l| {
            l.region != listing.region
                || l.delisted_at.is_some()
                || l.listed_at == listing.listed_at
        });
        match listings
            .iter_mut()
            .find(|l| l.region == listing.region && l.listed_at == listing.listed_at)
        {
            Some(held) => {
                let news = held.delisted_at != listing.delisted_at
                    || held.rules != listing.rules
                    || held.event_id != listing.event_id
                    || held.case_refs != listing.case_refs;
                if news {
                    *held = listing;
                }
            }
            None => {
                let region = listing.region;
                listings.push(listing);
                listings.sort_by_key(|l| (l.region, l.listed_at));
                // Sorted: the region's first is its oldest.
                let first = listings.iter().position(|l| l.region == region);
                if listings.iter().filter(|l| l.region == region).count() > KEPT {
                    listings.remove(first.unwrap_or_default());
                }
            }
        }
    }

    /// A neighbour no longer holds anything on the vehicle (a tombstone on its topic).
    pub fn forget(&mut self, vin: Vin, region: Region) {
        self.records += 1;
        if let Some(listings) = self.by_vin.get_mut(&vin) {
            listings.retain(|l| l.region != region);
            if listings.is_empty() {
                self.by_vin.remove(&vin);
            }
        }
    }

    /// The vehicle's listings by neighbour, then start.
    pub fn listings(&self, vin: &Vin) -> &[NeighbourListing] {
        self.by_vin.get(vin).map_or(&[], Vec::as_slice)
    }

    /// Vehicles any neighbour holds a listing of.
    pub fn vehicles(&self) -> usize {
        self.by_vin.len()
    }

    /// Records applied.
    pub fn records(&self) -> u64 {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventTime, RecordRef};

    fn listing(region: Region, from: i64, until: Option<i64>) -> NeighbourListing {
        NeighbourListing {
            region,
            listed_at: EventTime::from_unix_secs(from),
            delisted_at: until.map(EventTime::from_unix_secs),
            rules: vec!["roadside_fail".into()],
            event_id: String::new(),
            case_refs: Vec::new(),
            record: RecordRef {
                topic: "tianjin.tw.shared.overlimit".into(),
                partition: 0,
                offset: from,
            },
        }
    }

    #[test]
    fn a_delisting_closes_its_listing_and_the_sighting_is_judged_at_its_own_time() {
        let vin = Vin::parse("LGDCHA1G8MA127733").unwrap();
        let mut table = NeighbourTable::default();
        table.apply(vin, listing(Region::Tianjin, 1_000, None));
        table.apply(vin, listing(Region::Tianjin, 1_000, Some(5_000)));
        let held = table.listings(&vin);
        assert_eq!(held.len(), 1, "the delisting closed the listing it names");
        let at = EventTime::from_unix_secs;
        assert!(!held[0].listed_before(at(1_000)), "listed strictly before");
        assert!(held[0].listed_before(at(3_000)));
        assert!(!held[0].listed_before(at(6_000)), "delisted by then");
        // A new listing, and Hebei's: both kept, in order.
        table.apply(vin, listing(Region::Hebei, 2_000, None));
        table.apply(vin, listing(Region::Tianjin, 9_000, None));
        let regions: Vec<_> = table.listings(&vin).iter().map(|l| l.region).collect();
        assert_eq!(regions, [Region::Tianjin, Region::Tianjin, Region::Hebei]);
        table.forget(vin, Region::Tianjin);
        assert_eq!(table.listings(&vin).len(), 1);
        table.forget(vin, Region::Hebei);
        assert_eq!(table.vehicles(), 0);
    }

    /// Late evidence moved the neighbour's listing start back (a new LISTED with an earlier
    /// `listed_at`), then it delisted naming that start: nothing stays open.
    #[test]
    fn a_listing_whose_start_moved_back_is_closed_by_its_delisting() {
        let vin = Vin::parse("LGDCHA1G8MA127733").unwrap();
        let mut table = NeighbourTable::default();
        table.apply(vin, listing(Region::Tianjin, 2_000, None));
        table.apply(vin, listing(Region::Tianjin, 1_000, None));
        assert_eq!(table.listings(&vin).len(), 1, "one current listing");
        table.apply(vin, listing(Region::Tianjin, 1_000, Some(5_000)));
        let at = EventTime::from_unix_secs;
        assert!(table
            .listings(&vin)
            .iter()
            .all(|l| !l.listed_before(at(6_000))));
        assert!(table
            .listings(&vin)
            .iter()
            .any(|l| l.listed_before(at(3_000))));
    }

    #[test]
    fn only_the_latest_listings_of_a_neighbour_are_kept() {
        let vin = Vin::parse("LGDCHA1G8MA127733").unwrap();
        let mut table = NeighbourTable::default();
        for i in 1..=6 {
            table.apply(
                vin,
                listing(Region::Tianjin, i * 1_000, Some(i * 1_000 + 500)),
            );
        }
        let starts: Vec<_> = table
            .listings(&vin)
            .iter()
            .map(|l| l.listed_at.unix_secs())
            .collect();
        assert_eq!(starts, [3_000, 4_000, 5_000, 6_000]);
    }
}
