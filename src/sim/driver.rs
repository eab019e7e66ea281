//! The driver of a simulated truck: each second, the speed to aim for and how hard to
//! accelerate. Urban legs are stop-and-go (cruise a block, brake, idle at a light), highway
//! legs cruise at 65–88 km/h with the odd slowdown; the timeline can force a highway run or a
//! halt, and a cold catalyst makes the driver pull away gently.
//!
//! Only intentions live here; what the truck actually does with them is `truck`'s physics.

use rand::rngs::SmallRng;
use rand::Rng;

/// What the timeline asks of the driver for the coming seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drive {
    /// The driver's own mix of urban and highway driving.
    Free,
    /// Highway cruising (a terminal that goes silent on purpose does so on a long run).
    Highway,
    /// Pull over and idle: checkpoint stops and the approach to parking.
    Halt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leg {
    Urban,
    Highway,
}

#[derive(Debug, Clone)]
pub struct Driver {
    leg: Leg,
    /// Seconds left in the current leg.
    leg_left: u32,
    /// Braking for (or waiting at) a light; `hold` is then the wait once stopped.
    stopping: bool,
    hold: u32,
    cruise: f64,
    cruise_base: f64,
}

impl Driver {
    /// Every drive leaves the depot in town, after a short idle.
    pub fn depart(rng: &mut SmallRng) -> Driver {
        Driver {
            leg: Leg::Urban,
            leg_left: rng.random_range(5 * 60..=15 * 60),
            stopping: true,
            hold: rng.random_range(30..=90),
            cruise: 0.0,
            cruise_base: 0.0,
        }
    }

    /// Target speed (km/h) and acceleration limit (m/s²) for the coming second.
    pub fn next(&mut self, speed: f64, drive: Drive, cold: bool, rng: &mut SmallRng) -> (f64, f64) {
        if drive == Drive::Halt {
            return (0.0, 0.5);
        }
        let forced = drive == Drive::Highway;
        if self.leg_left == 0 || (forced && self.leg == Leg::Urban) {
            self.leg = if forced || rng.random_bool(0.5) {
                Leg::Highway
            } else {
                Leg::Urban
            };
            self.leg_left = match self.leg {
                Leg::Urban => rng.random_range(10 * 60..=30 * 60),
                Leg::Highway => rng.random_range(15 * 60..=45 * 60),
            };
            self.stopping = false;
            self.hold = 0;
        }
        self.leg_left -= 1;
        if self.stopping {
            if speed > 0.0 {
                // Still braking for the light.
            } else if self.hold > 0 {
                self.hold -= 1;
            } else {
                self.stopping = false;
                self.new_cruise(rng);
            }
        } else if self.hold > 0 {
            self.hold -= 1;
            self.cruise = (self.cruise + rng.random_range(-0.4..0.4))
                .clamp(self.cruise_base - 3.0, self.cruise_base + 3.0);
        } else if self.leg == Leg::Urban {
            self.stopping = true;
            self.hold = rng.random_range(10..=45);
        } else {
            self.new_cruise(rng);
        }
        let (mut target, mut cap) = match (self.stopping, self.leg) {
            (true, _) => (0.0, 0.6),
            (false, Leg::Urban) => (self.cruise, 0.6),
            (false, Leg::Highway) => (self.cruise, 0.4),
        };
        if cold && !forced {
            target = target.min(30.0);
            cap = 0.3;
        }
        (target, cap)
    }

    /// On a highway leg (routes take longer hops there).
    pub fn on_highway(&self) -> bool {
        self.leg == Leg::Highway
    }

    fn new_cruise(&mut self, rng: &mut SmallRng) {
        let (base, hold) = match self.leg {
            Leg::Urban => (rng.random_range(22.0..50.0), rng.random_range(30..=120)),
            // Now and then traffic slows the highway down.
            Leg::Highway if rng.random_bool(0.1) => {
                (rng.random_range(45.0..60.0), rng.random_range(30..=90))
            }
            Leg::Highway => (rng.random_range(65.0..88.0), rng.random_range(60..=240)),
        };
        self.cruise_base = base;
        self.cruise = base;
        self.hold = hold;
    }
}
