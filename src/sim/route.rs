//! Where a simulated truck is: a path of straight hops between waypoints drawn inside a safe
//! box well within Beijing, advanced by the distance driven.
//!
//! The box is convex and every waypoint is inside it, so every point of every hop is too: no
//! position ever comes near the municipal boundary, where datum and polygon approximations
//! could make "inside Beijing" depend on the boundary data in use.

use rand::rngs::SmallRng;
use rand::Rng;

/// lon 116.15–116.65, lat 39.75–40.10 is safely inside Beijing; keep a further margin.
const LON: (f64, f64) = (116.18, 116.62);
const LAT: (f64, f64) = (39.78, 40.07);
const KM_PER_DEG_LAT: f64 = 111.32;

#[derive(Debug, Clone)]
pub struct Route {
    lon: f64,
    lat: f64,
    to: (f64, f64),
}

impl Route {
    pub fn new(rng: &mut SmallRng) -> Route {
        let lon = rng.random_range(LON.0..LON.1);
        let lat = rng.random_range(LAT.0..LAT.1);
        Route {
            lon,
            lat,
            to: (lon, lat),
        }
    }

    pub fn position(&self) -> (f64, f64) {
        (self.lon, self.lat)
    }

    /// Moves `km` along the path. Highway hops are long, urban hops a few blocks.
    pub fn advance(&mut self, km: f64, highway: bool, rng: &mut SmallRng) {
        let mut left = km;
        while left > 0.0 {
            let (dx, dy) = self.offset_km(self.to);
            let remaining = dx.hypot(dy);
            if remaining <= left {
                (self.lon, self.lat) = self.to;
                left -= remaining;
                self.to = self.next_waypoint(highway, rng);
                // A waypoint clamped onto the current position (heading out of a corner)
                // would loop forever; the rest of this step's distance is dropped instead.
                let (dx, dy) = self.offset_km(self.to);
                if dx.hypot(dy) < 1e-3 {
                    return;
                }
            } else {
                let f = left / remaining;
                self.lon += (self.to.0 - self.lon) * f;
                self.lat += (self.to.1 - self.lat) * f;
                left = 0.0;
            }
        }
    }

    /// East and north offsets in km from here to `p` (flat-earth: hops are a few km).
    fn offset_km(&self, p: (f64, f64)) -> (f64, f64) {
        let km_per_deg_lon = KM_PER_DEG_LAT * self.lat.to_radians().cos();
        (
            (p.0 - self.lon) * km_per_deg_lon,
            (p.1 - self.lat) * KM_PER_DEG_LAT,
        )
    }

    fn next_waypoint(&self, highway: bool, rng: &mut SmallRng) -> (f64, f64) {
        let km = if highway {
            rng.random_range(5.0..20.0)
        } else {
            rng.random_range(0.5..3.0)
        };
        let heading = rng.random_range(0.0..std::f64::consts::TAU);
        let km_per_deg_lon = KM_PER_DEG_LAT * self.lat.to_radians().cos();
        let lon = self.lon + km * heading.sin() / km_per_deg_lon;
        let lat = self.lat + km * heading.cos() / KM_PER_DEG_LAT;
        // Clamping keeps the waypoint in the box; hops that hit an edge just run along it.
        (lon.clamp(LON.0, LON.1), lat.clamp(LAT.0, LAT.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn stays_in_the_box_and_covers_the_distance() {
        let mut rng = SmallRng::seed_from_u64(3);
        let mut route = Route::new(&mut rng);
        let mut travelled = 0.0;
        for i in 0..200_000 {
            let before = route.position();
            route.advance(0.025, i % 5_000 < 2_500, &mut rng);
            let after = route.position();
            let (dx, dy) = Route {
                lon: before.0,
                lat: before.1,
                to: before,
            }
            .offset_km(after);
            travelled += dx.hypot(dy);
            assert!((LON.0..=LON.1).contains(&after.0) && (LAT.0..=LAT.1).contains(&after.1));
        }
        // Straight-line displacement per step never exceeds the distance driven.
        assert!(travelled <= 200_000.0 * 0.025 + 1e-6 && travelled > 0.9 * 200_000.0 * 0.025);
    }
}
